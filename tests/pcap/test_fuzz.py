"""Fuzzing the reader: whatever the bytes, only KsauditError escapes, and quickly.

Seeds are valid captures of every kind; hypothesis flips, cuts, splices and prepends
bytes.  Examples are derandomized so CI is reproducible.  (Run once with
NUMBA_BOUNDSCHECK=1 and a scratch NUMBA_CACHE_DIR to turn out-of-bounds reads in the
compiled code into errors.)
"""

import importlib.util
import os
import pathlib
import struct
import warnings
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.all import ARP, ICMP, IP, TCP, UDP, Dot1Q, Ether, IPv6, IPv6ExtHdrFragment, \
    IPv6ExtHdrHopByHop, Raw
from scapy.contrib.macsec import MACsec
from scapy.layers.vxlan import VXLAN

from ksaudit.errors import KsauditError
from ksaudit.pcap import capture_info, iter_packet_chunks, read_packets
from ksaudit.schema import PACKET_COLUMNS

_spec = importlib.util.spec_from_file_location(
    "ksaudit_tests_pcapgen_fuzz", pathlib.Path(__file__).with_name("pcapgen.py"))
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

T0 = 1_795_587_593_000_000_000
IP_PKTS = [bytes(p) for p in (
    IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2) / Raw(b"KSAPROBE 1 2"),
    IP(src="10.0.0.1", dst="10.0.0.2", options=b"\x01\x01\x01\x00") / TCP(flags="S"),
    IP(src="10.0.0.1", dst="10.0.0.2", flags="MF") / ICMP(),
    IPv6(src="::1", dst="::2") / IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment() / UDP(),
    IPv6(src="::1", dst="::2") / TCP(),
)]
ETH_PKTS = [bytes(Ether() / Dot1Q(vlan=3) / ARP())] + [
    bytes(Ether(type=0x86DD if p[0] >> 4 == 6 else 0x0800)) + p for p in IP_PKTS] + [
    bytes(Ether(type=0x88E5) / MACsec(SC=1, SCI=b"\x02" * 8, E=0, C=0, PN=1, type=0x8100)
          / Dot1Q(vlan=4, type=0x0800)) + IP_PKTS[0] + bytes(16),       # cleartext MACsec
    bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.3") / UDP(dport=4789) / VXLAN(vni=1)
          / Ether() / IP(src="10.9.0.1", dst="10.9.0.2") / UDP())]


def _seeds():
    fr = lambda pk: [(T0 + i * 1000, d) for i, d in enumerate(pk)]  # noqa: E731
    return [
        gen.pcap(fr(ETH_PKTS)),
        gen.pcap(fr(ETH_PKTS), nano=True, big=True),
        gen.pcap(fr([gen.sll2(p, 2, proto=0x86DD if p[0] >> 4 == 6 else 0x0800) for p in IP_PKTS]),
                 linktype=276),
        gen.pcap(fr([gen.sll(p) for p in IP_PKTS]), linktype=113),
        gen.pcap(fr([gen.null(p) for p in IP_PKTS]), linktype=0),
        gen.pcap(fr(IP_PKTS), linktype=101),
        b"".join([gen.shb(), gen.idb(1, name="eth0", tsresol=9), gen.idb(101, tsresol=0x94,
                                                                           tsoffset=5)]
                 + [gen.epb(i % 2, T0 + i, ETH_PKTS[i] if i % 2 == 0 else IP_PKTS[i], flags=i % 3)
                    for i in range(5)]
                 + [gen.isb(0, 1, 2), gen.block(0xBAD, b"x"), gen.shb(big=True),
                    gen.idb(276, big=True), gen.pb(0, 5, gen.sll2(IP_PKTS[0], 1), big=True),
                    gen.spb(IP_PKTS[1], big=True)]),
    ]


SEEDS = _seeds()
HEADS = [b"", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a",
         b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a\x01\x00\x00\x00",
         struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]

# KSAUDIT_FUZZ_EXAMPLES=5000 for a longer, randomized local run
_EXAMPLES = int(os.environ.get("KSAUDIT_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_EXAMPLES or 250, deadline=timedelta(seconds=3),
                derandomize=not _EXAMPLES,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module", autouse=True)
def _warm(tmp_path_factory):
    """Load (or compile) the numba code before any timed example."""
    path = tmp_path_factory.mktemp("warm") / "seed.pcapng"
    path.write_bytes(SEEDS[-1])
    read_packets(path)


def _read_everything(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            df = read_packets(path)
        except KsauditError as exc:
            assert str(path) in str(exc)
            return
        assert list(df.columns) == list(PACKET_COLUMNS)
        assert len(df) == df.attrs["packets"]
        assert (df["caplen"].to_numpy() <= path.stat().st_size).all()
        info = capture_info(path)
        assert info.packets == len(df)
        assert sum(len(c) for c in iter_packet_chunks(path, rows=3)) == len(df)


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "splice", "word"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "splice":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:
            data[at:at + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\0\0\0\0",
                                                     b"\x0c\0\0\0", b"\0\0\0\x1c", b"\x0a\x0d\x0d\x0a"]))
    return bytes(data)


@FUZZ
@given(data=mutated())
def test_mutated_captures(tmp_path, data):
    path = tmp_path / "m.bin"
    path.write_bytes(data)
    _read_everything(path)


@FUZZ
@given(head=st.sampled_from(HEADS), body=st.binary(max_size=600))
def test_random_bytes(tmp_path, head, body):
    path = tmp_path / "r.bin"
    path.write_bytes(head + body)
    _read_everything(path)


@settings(FUZZ, max_examples=_EXAMPLES or 80)
@given(data=mutated())
def test_dissect_of_mutated_captures(tmp_path, data):
    """dissect finds every frame the packet table lists (both use the compiled walk),
    whatever the bytes; only KsauditError escapes, never a hang."""
    from ksaudit.pcap.dissect import NOT_IN_CAPTURE, dissect
    path = tmp_path / "d.bin"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            df = read_packets(path)
        except KsauditError:
            df = None
        try:
            table = dissect(path, range(1, 12), tshark=None).set_index("frame")
        except KsauditError as exc:
            assert df is None and str(path) in str(exc)
            return
    if df is None:
        return
    for frame, caplen, length in df[["frame", "caplen", "length"]].itertuples(index=False):
        row = table.loc[frame] if frame < 12 else None
        if row is not None:
            assert row["summary"] != NOT_IN_CAPTURE, frame
            assert row["truncated"] == (caplen < length), frame
