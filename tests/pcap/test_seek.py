"""seek.locate_frames: dissect's fast way to the wanted frames, checked byte for byte
against the file and against scapy's own record walk (dissect's fallback)."""

import gzip
import struct

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from ksaudit.errors import KsauditError
from ksaudit.pcap import dissect as dissect_mod
from ksaudit.pcap.dissect import dissect
from ksaudit.pcap.seek import locate_frames


def dns(name, v=4):
    return bytes(Ether() / IP(src="10.0.0.2", dst="203.0.113.53") / UDP(sport=5353, dport=53)
                 / DNS(qd=[DNSQR(qname=name)]))


FRAMES = [dns(f"f{i}.example.com") for i in range(6)]


def write_pcapng(gen, path):
    """Two sections (the second big-endian), three interfaces, EPB, obsolete PB, SPB."""
    ip_only = FRAMES[2][14:]
    data = (gen.shb() + gen.idb(1) + gen.idb(101) + gen.epb(0, 1, FRAMES[0]) + gen.epb(1, 2, ip_only)
            + gen.pb(0, 3, FRAMES[1])
            + gen.shb(big=True) + gen.idb(1, big=True) + gen.epb(0, 4, FRAMES[3], wire=900, big=True)
            + gen.spb(FRAMES[4], big=True))
    path.write_bytes(data)
    return data, [FRAMES[0], ip_only, FRAMES[1], FRAMES[3], FRAMES[4]], [1, 101, 1, 1, 1]


def test_located_bytes_are_the_records(gen, tmp_path):
    path = tmp_path / "multi.pcapng"
    raw, datas, links = write_pcapng(gen, path)
    got = locate_frames(path, [5, 2, 2, 0, -1, 1, 3, 4, 99])
    assert sorted(got.records) == [1, 2, 3, 4, 5]
    for frame, rec in got.records.items():
        assert rec.data == datas[frame - 1] == raw[rec.offset:rec.offset + len(rec.data)]
        assert rec.linktype == links[frame - 1]
    assert got.records[4].wirelen == 900 and got.records[1].wirelen == len(FRAMES[0])
    assert (got.last_frame, got.clean_end) == (5, True)


def test_walk_stops_after_the_last_wanted_frame(gen, tmp_path):
    path = tmp_path / "many.pcap"
    path.write_bytes(gen.pcap([(i, FRAMES[i % 6]) for i in range(600_000)]))
    got = locate_frames(path, [3])
    assert list(got.records) == [3] and got.last_frame < 600_000 and not got.clean_end
    assert locate_frames(path, [600_000]).last_frame == 600_000


def test_max_bytes_caps_the_data(gen, tmp_path):
    path = tmp_path / "big.pcap"
    path.write_bytes(gen.pcap([(0, FRAMES[0] + b"\0" * 300_000)], snaplen=400_000))
    rec = locate_frames(path, [1], max_bytes=1 << 18).records[1]
    assert len(rec.data) == 1 << 18 and rec.wirelen == len(FRAMES[0]) + 300_000


@pytest.mark.parametrize("kind", ["pcap-ns-big", "pcapng", "sll2", "cut"])
def test_same_records_as_scapys_walk(gen, tmp_path, kind):
    path = tmp_path / "cap"
    if kind == "pcap-ns-big":
        path.write_bytes(gen.pcap([(i * 7, d) for i, d in enumerate(FRAMES)], nano=True, big=True))
    elif kind == "pcapng":
        write_pcapng(gen, path)
    elif kind == "sll2":
        path.write_bytes(gen.pcap([(i, gen.sll2(d[14:], 2 + i)) for i, d in enumerate(FRAMES)],
                                  linktype=276))
    else:   # a last record cut short: scapy's walk keeps it, so dissect must too
        path.write_bytes(gen.pcap([(i, d) for i, d in enumerate(FRAMES)])[:-10])
    frames = list(range(1, 9))
    fast = dissect_mod._read_records(str(path), frames)
    assert fast == dissect_mod._scapy_records(str(path), frames)
    assert len(fast) == (6 if kind == "cut" else 5 if kind == "pcapng" else 6)


def test_a_clean_capture_never_needs_scapys_walk(gen, tmp_path, monkeypatch):
    path = tmp_path / "clean.pcap"
    path.write_bytes(gen.pcap([(i, d) for i, d in enumerate(FRAMES)]))

    def refuse(*_):
        raise AssertionError("scapy's record walk used for a clean capture")
    monkeypatch.setattr(dissect_mod, "_scapy_records", refuse)
    table = dissect(path, [6, 2, 40], tshark=None)
    assert table["dns_query"].tolist() == ["f1.example.com", "f5.example.com", ""]
    assert table["summary"].iloc[2] == dissect_mod.NOT_IN_CAPTURE


def test_gzip_capture_goes_through_scapys_walk(gen, tmp_path):
    plain = gen.pcap([(i, d) for i, d in enumerate(FRAMES)])
    (tmp_path / "c.pcap").write_bytes(plain)
    (tmp_path / "c.pcap.gz").write_bytes(gzip.compress(plain))
    a = dissect(tmp_path / "c.pcap", [1, 4, 9], tshark=None)
    b = dissect(tmp_path / "c.pcap.gz", [1, 4, 9], tshark=None)
    assert a.equals(b) and a["dns_query"].tolist()[:2] == ["f0.example.com", "f3.example.com"]


def test_frame_numbers_below_one_walk_nothing(gen, tmp_path):
    path = tmp_path / "x.pcap"
    path.write_bytes(gen.pcap([(0, FRAMES[0])]) + struct.pack("<I", 7))
    got = locate_frames(path, [0, -5])
    assert got.records == {} and got.last_frame == 0


def test_frame_numbers_beyond_any_file(gen, tmp_path):
    path = tmp_path / "x.pcap"
    path.write_bytes(gen.pcap([(0, FRAMES[0])]))
    assert locate_frames(path, [10**30, 1 << 63, 1]).records.keys() == {1}
    table = dissect(path, [2**63 - 1, 1], tshark=None)
    assert table["summary"].tolist()[1] == dissect_mod.NOT_IN_CAPTURE
    assert table["dns_query"].tolist()[0] == "f0.example.com"
    with pytest.raises(KsauditError, match="x.pcap: dissect: frame number 1000000000000000000000000000000 is out of range"):
        dissect(path, [10**30, 1])
