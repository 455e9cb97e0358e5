"""Shared fixtures: hand-built capture writers and the tshark cross-check."""

import importlib.util
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location(
    "ksaudit_tests_pcapgen", pathlib.Path(__file__).with_name("pcapgen.py"))
pcapgen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pcapgen)

FIELDS = ["frame.number", "frame.time_epoch", "frame.len", "frame.cap_len", "ip.version",
          "ip.src", "ip.dst", "ip.proto", "ipv6.version", "ipv6.nxt", "ipv6.src", "ipv6.dst", "arp.src.proto_ipv4", "arp.dst.proto_ipv4",
          "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "sctp.srcport",
          "sctp.dstport", "tcp.flags", "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code",
          "ieee8021ad.id", "vlan.id"]


@pytest.fixture(scope="session")
def gen():
    """The pcapgen module (hand-built pcap / pcapng writers)."""
    return pcapgen


def tshark_rows(path):
    """tshark's per-frame fields for path, as a list of dicts (text values)."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (apt-get install tshark)")
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=f",
           "-E", "separator=\t", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE"]
    for f in FIELDS:
        cmd += ["-e", f]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    rows = [dict(zip(FIELDS, line.split("\t"))) for line in proc.stdout.splitlines() if line]
    assert rows or proc.returncode == 0, proc.stderr
    return rows


def epoch_ns(text):
    """frame.time_epoch text -> exact int ns (never through float)."""
    sec, _, frac = text.partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])


def _int(text, base=10):
    return int(text, base) if text else -1


def assert_matches_tshark(path, df, records=0):
    """Every frame of df agrees with tshark on the fields both produce.

    ``records``: how many non-packet records (pcapng custom blocks) tshark numbers too.
    """
    rows = tshark_rows(path)
    assert len(rows) == len(df) + records, f"tshark read {len(rows)} frames, ksaudit {len(df)}"
    by_frame = {int(t["frame.number"]): t for t in rows}
    recs = df.to_dict("records")
    for r in recs:
        t = by_frame[r["frame"]]
        where = f"frame {r['frame']}"
        assert int(t["frame.number"]) == r["frame"], where
        # a simple packet block has no time: tshark prints none, ksaudit gives 0
        assert epoch_ns(t["frame.time_epoch"] or "0") == r["ts_ns"], where
        assert int(t["frame.len"]) == r["length"] and int(t["frame.cap_len"]) == r["caplen"], where
        src = t["ip.src"] or t["ipv6.src"] or t["arp.src.proto_ipv4"]
        dst = t["ip.dst"] or t["ipv6.dst"] or t["arp.dst.proto_ipv4"]
        assert (src, dst) == (r["src"], r["dst"]), where
        expect_ver = (int(t["ip.version"]) if t["ip.version"] in ("4", "6")
                      else 6 if t["ipv6.version"] == "6" else 0)
        assert r["ip_version"] == expect_ver, where
        if expect_ver == 6 and not t["ipv6.dst"] and t["ipv6.nxt"]:   # cut before any extension
            assert r["proto"] == int(t["ipv6.nxt"]), where
        if t["arp.src.proto_ipv4"]:          # (a cut ARP is still ARP by its ethertype)
            assert r["arp"], where
        elif r["arp"]:
            assert (r["src"], r["dst"]) == ("", ""), where
        if t["ip.proto"]:
            assert r["proto"] == int(t["ip.proto"]), where
        elif expect_ver == 0:
            assert r["proto"] == -1, where
        for proto, name in ((6, "tcp"), (17, "udp"), (132, "sctp")):
            if r["proto"] == proto:   # ports masked by the outer protocol (ICMP errors quote others)
                assert (r["sport"], r["dport"]) == (_int(t[f"{name}.srcport"]),
                                                    _int(t[f"{name}.dstport"])), where
        if r["proto"] not in (6, 17, 132):
            assert (r["sport"], r["dport"]) == (-1, -1), where
        if expect_ver == 6 and t["tcp.srcport"] and r["sport"] >= 0:
            assert r["proto"] == 6, where
        if expect_ver == 6 and t["udp.srcport"] and r["sport"] >= 0:
            assert r["proto"] == 17, where
        if r["proto"] == 6 and t["tcp.flags"]:
            assert r["tcp_flags"] == int(t["tcp.flags"], 16) & 0x1FF, where
        icmp = ("icmp" if r["proto"] == 1 else "icmpv6" if r["proto"] == 58 else None)
        if icmp:
            assert (r["icmp_type"], r["icmp_code"]) == (_int(t[f"{icmp}.type"]),
                                                        _int(t[f"{icmp}.code"])), where
        else:
            assert (r["icmp_type"], r["icmp_code"]) == (-1, -1), where
        assert r["vlan"] == _int(t["ieee8021ad.id"] or t["vlan.id"]), where   # outermost tag
    return rows


@pytest.fixture
def crosscheck():
    return assert_matches_tshark


def frames_from(packets, t0_ns=1_795_587_593_000_000_000, step_ns=1_234_567):
    """(ts_ns, bytes) pairs from scapy packets or raw bytes, at distinct ns times."""
    out = []
    for i, p in enumerate(packets):
        out.append((t0_ns + i * step_ns + (i * 7919) % 1000, bytes(p)))
    return out


@pytest.fixture(scope="session")
def frames():
    return frames_from


def snaplen_cut_capture(path, packets, count, seed):
    """A pcap of ``count`` frames drawn from ``packets`` (bytes), each cut at a random
    snaplen (1 byte up to whole) with its wire length kept, as a short snaplen records them."""
    import random
    rng = random.Random(seed)
    cut = []
    for _ in range(count):
        b = rng.choice(packets)
        cut.append((b[:rng.randrange(1, len(b) + 1)], len(b)))
    fr = [(t, d, wire) for (t, _), (d, wire) in zip(frames_from([d for d, _ in cut]), cut)]
    path.write_bytes(pcapgen.pcap(fr, nano=True))
    return path


@pytest.fixture(scope="session")
def snaplen_cut():
    return snaplen_cut_capture


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.fixture
def writer(tmp_path):
    return lambda name, data: write(tmp_path, name, data)


def as_np(x):
    return np.asarray(x)
