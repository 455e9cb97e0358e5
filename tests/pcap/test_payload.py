"""payload_len / payload_head: the TCP/UDP payload as the IP length field gives it,
cross-checked against tshark's ``tcp.len`` and ``udp.length - 8`` (also through VLAN,
PPPoE, MPLS, SLL2, IPv6 extension headers and a snap length that cuts the payload)."""

import pathlib
import shutil
import subprocess

import pytest
from scapy.all import IP, TCP, UDP, Dot1Q, Ether, IPv6, IPv6ExtHdrDestOpt, Raw
from scapy.contrib.mpls import MPLS
from scapy.layers.l2 import CookedLinuxV2
from scapy.layers.ppp import PPP, PPPoE

from ksaudit.pcap import read_packets

MAC = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
SAMPLES = sorted(pathlib.Path(__file__).resolve().parents[2].glob(
    "captures/samples/2026.11.0-lab/*/*.pcap"))


def tshark_payload(path):
    """Per frame: (tcp.len or udp.length - 8 or None, is a fragment)."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt-get install tshark)")
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=f",
           "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
           "-e", "tcp.len", "-e", "udp.length", "-e", "ip.flags.mf", "-e", "ip.frag_offset",
           "-e", "ipv6.fraghdr.offset", "-e", "ip.proto", "-e", "ipv6.nxt"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    rows = []
    for line in out.splitlines():
        tcp, udp, mf, fo, fo6, _, _ = (line.split("\t") + [""] * 7)[:7]
        frag = mf in ("1", "True") or fo not in ("", "0") or fo6 != ""
        rows.append((int(tcp) if tcp else int(udp) - 8 if udp else None, frag))
    return rows


def check(path):
    df = read_packets(path)
    rows = tshark_payload(path)
    assert len(rows) == len(df)
    compared = 0
    for (want, frag), got, proto in zip(rows, df["payload_len"], df["proto"]):
        if proto in (6, 17) and not frag and want is not None:
            assert got == want
            compared += 1
        elif proto not in (6, 17):
            assert got == -1
    return df, compared


def packets():
    data = Raw(bytes(range(1, 201)))
    return [
        Ether(**MAC) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2) / data,
        Ether(**MAC) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2),
        Ether(**MAC) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2) / Raw(b"ab"),
        Ether(**MAC) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2) / data,
        Ether(**MAC) / IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(sport=1, dport=2, options=[("MSS", 1400), ("NOP", None), ("NOP", None)]) / data,
        Ether(**MAC) / Dot1Q(vlan=5) / Dot1Q(vlan=6) / IP(src="10.0.0.1", dst="10.0.0.2")
        / UDP(sport=1, dport=51820) / data,
        Ether(**MAC) / PPPoE(sessionid=3) / PPP(proto=0x0021)
        / IP(src="100.64.0.1", dst="10.0.0.2")
        / UDP(sport=1, dport=1194) / data,
        Ether(**MAC, type=0x8847) / MPLS(label=9, s=1) / IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(sport=1, dport=1194) / data,
        Ether(**MAC) / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrDestOpt()
        / UDP(sport=1, dport=2) / data,
        Ether(**MAC) / IP(src="10.0.0.1", dst="10.0.0.2", flags="MF")
        / UDP(sport=1, dport=2) / data,
    ]


def test_payload_matches_tshark(tmp_path, gen, frames):
    path = tmp_path / "payload.pcap"
    path.write_bytes(gen.pcap(frames(packets()), nano=True))
    df, compared = check(path)
    assert compared == 9
    assert df["payload_len"].tolist() == [200, 0, 2, 200, 200, 200, 200, 200, 200, -1]
    assert df["payload_head"].tolist()[:4] == [0x01020304, -1, -1, 0x01020304]
    assert df["payload_head"].tolist()[9] == -1


def test_payload_len_survives_a_snap_length(tmp_path, gen, frames):
    """tcpdump -s 60: the payload is cut, its length is still the IP header's."""
    pk = [bytes(p) for p in packets()[:9]]
    cut = [(t, b[:60], len(b)) for t, b in frames(pk)]
    path = tmp_path / "snap.pcap"
    path.write_bytes(gen.pcap(cut, nano=True, snaplen=60))
    df, compared = check(path)
    assert compared == 8 and df["payload_len"].tolist() == [200, 0, 2] + [200] * 5 + [-1]


def test_sll2_payload(tmp_path, gen, frames):
    pk = [CookedLinuxV2(proto=0x0800, ifindex=2, pkttype=4)
          / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2)
          / Raw(b"\x02\0\0\0" + b"z" * 88)]
    path = tmp_path / "sll2.pcap"
    path.write_bytes(gen.pcap(frames(pk), linktype=276, nano=True))
    df, compared = check(path)
    assert (compared, df["payload_len"].iat[0], df["payload_head"].iat[0]) == (1, 92, 0x02000000)


@pytest.mark.skipif(not SAMPLES, reason="no lab samples under captures/samples/2026.11.0-lab")
@pytest.mark.parametrize("path", SAMPLES[:6], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_lab_sample_payload_matches_tshark(path):
    df, compared = check(path)
    assert compared > 0
