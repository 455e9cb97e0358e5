"""Damaged and non-capture files: keep every complete frame, say where, warn once."""

import gzip
import os
import warnings

import pytest
from scapy.all import IP, TCP, UDP, Ether, Raw

from ksaudit.errors import KsauditError
from ksaudit.pcap import CaptureWarning, capture_info, read_packets


def packets(n=10):
    return [bytes(Ether() / IP(src="10.0.0.1", dst=f"10.0.0.{i + 2}") / UDP(sport=i, dport=53)
                  / Raw(b"q" * i)) for i in range(n)]


def read_warned(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = read_packets(path)
    mine = [w for w in caught if issubclass(w.category, CaptureWarning)]
    assert len(mine) == 1, [str(w.message) for w in caught]
    assert str(path) in str(mine[0].message)
    return df, str(mine[0].message)


@pytest.mark.parametrize("cut", [5, 16 + 3, 16 + 30])     # inside the last record's header / data
def test_pcap_cut_in_last_record(tmp_path, gen, frames, crosscheck, cut):
    fr = frames(packets())
    whole = gen.pcap(fr, nano=True)
    last = len(gen.pcap(fr[:-1], nano=True))
    path = tmp_path / "cut.pcap"
    path.write_bytes(whole[:last + cut])
    df, msg = read_warned(path)
    assert len(df) == 9 and df["frame"].iloc[-1] == 9
    crosscheck(path, df)                       # tshark also prints the complete frames
    a = df.attrs
    assert a["truncated"] and a["truncated_at"] == last
    assert a["truncated_after_ns"] == fr[8][0]
    assert f"byte offset {last}" in msg


def test_pcapng_cut_mid_block_and_info(tmp_path, gen, frames):
    fr = frames(packets())
    blocks = [gen.shb(), gen.idb(1, tsresol=9)] + [gen.epb(0, t, d) for t, d in fr]
    data = b"".join(blocks)
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data[:-10])
    df, _ = read_warned(path)
    assert len(df) == 9
    info = capture_info(path)
    assert info.truncated and info.truncated_at == len(data) - len(blocks[-1])
    assert info.packets == 9 and info.truncated_after_ns == fr[8][0]
    assert info.to_dict() == df.attrs


def test_pcapng_bad_block_length(tmp_path, gen, frames):
    fr = frames(packets())
    blocks = [gen.shb(), gen.idb(1, tsresol=9)] + [gen.epb(0, t, d) for t, d in fr]
    bad_at = sum(len(b) for b in blocks[:6])
    blocks[6] = blocks[6][:4] + (13).to_bytes(4, "little") + blocks[6][8:]
    path = tmp_path / "bad.pcapng"
    path.write_bytes(b"".join(blocks))
    df, msg = read_warned(path)
    assert len(df) == 4 and df.attrs["truncated_at"] == bad_at
    assert "bad record length" in msg


def test_trailing_garbage(tmp_path, gen, frames):
    path = tmp_path / "garbage.pcap"
    good = gen.pcap(frames(packets()))
    path.write_bytes(good + b"\xff" * 100)
    df, _ = read_warned(path)
    assert len(df) == 10 and df.attrs["truncated_at"] == len(good)


def test_complete_file_does_not_warn(tmp_path, gen, frames):
    path = tmp_path / "ok.pcap"
    path.write_bytes(gen.pcap(frames(packets())))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_packets(path)
    assert not df.attrs["truncated"] and df.attrs["warnings"] == ()


def test_isb_drop_counters(tmp_path, gen, frames):
    fr = frames(packets(4))
    data = b"".join([gen.shb(), gen.idb(1, name="eth0", tsresol=9), gen.idb(1, name="eth1", tsresol=9)]
                    + [gen.epb(i % 2, t, d) for i, (t, d) in enumerate(fr)]
                    + [gen.isb(1, ifdrop=5), gen.isb(1, ifdrop=12, osdrop=3), gen.isb(0)])
    path = tmp_path / "drops.pcapng"
    path.write_bytes(data)
    info = capture_info(path)
    assert info.dropped == 15
    assert [(i.isb_ifdrop, i.isb_osdrop) for i in info.interfaces] == [(None, None), (12, 3)]
    assert read_packets(path).attrs["dropped"] == 15
    plain = tmp_path / "nodrops.pcapng"
    plain.write_bytes(b"".join([gen.shb(), gen.idb(1)] + [gen.epb(0, t // 1000, d) for t, d in fr]))
    assert capture_info(plain).dropped is None


def test_isb_for_undeclared_interface_is_noted(tmp_path, gen):
    path = tmp_path / "isb.pcapng"
    path.write_bytes(gen.shb() + gen.idb(1) + gen.isb(4, ifdrop=1))
    info = capture_info(path)
    assert info.dropped is None and "undeclared interface 4" in info.warnings[0]


@pytest.mark.parametrize("content,reason", [
    (b"", "empty file"),
    (os.urandom(0) + b"hello, this is not a capture at all\n" * 20, "not a pcap or pcapng"),
    (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00", "header cut short"),
    (b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c", "not a readable pcapng"),
    (b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\xde\xad\xbe\xef" + b"\0" * 16, "byte-order magic"),
    (b"\x34\xcd\xb2\xa1" + b"\0" * 40, "modified .Kuznetzov. pcap is not supported"),
    (gzip.compress(b"\xd4\xc3\xb2\xa1" + b"\0" * 20), "gzip-compressed; decompress it"),
])
def test_not_a_capture(tmp_path, content, reason):
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    for fn in (read_packets, capture_info):
        with pytest.raises(KsauditError, match=reason) as exc:
            fn(path)
        assert str(path) in str(exc.value)


def test_random_bytes_and_missing_file(tmp_path):
    path = tmp_path / "random.bin"
    path.write_bytes(b"\x13\x37" + os.urandom(5000))
    with pytest.raises(KsauditError, match="not a pcap or pcapng"):
        read_packets(path)
    with pytest.raises(KsauditError, match="cannot read"):
        read_packets(tmp_path / "missing.pcap")
    with pytest.raises(KsauditError, match="a directory, not a regular file"):
        read_packets(tmp_path)


def test_ifindex_must_be_a_mapping(tmp_path, gen, frames):
    path = tmp_path / "ok.pcap"
    path.write_bytes(gen.pcap(frames(packets(2))))
    with pytest.raises(KsauditError, match="ifindex"):
        read_packets(path, ifindex={"two": "wlan0"})


def test_tcp_payload_is_not_a_probe(tmp_path, gen, frames):
    pk = [Ether() / IP() / TCP() / Raw(b"KSAPROBE 1 2"),
          Ether() / IP() / UDP() / Raw(b"KSAPROBE x 2"),
          Ether() / IP() / UDP() / Raw(b"KSAPROBE 5"),
          Ether() / IP() / UDP() / Raw(b"KSAPROBE 5 99999999999999999999999"),
          Ether() / IP() / UDP() / Raw(b"KSAPROBE 5 1795587593463073150\n")]
    path = tmp_path / "probes.pcap"
    path.write_bytes(gen.pcap(frames(pk)))
    df = read_packets(path)
    assert df["probe_seq"].tolist() == [-1, -1, -1, -1, 5]
    assert df["probe_send_ns"].tolist() == [-1, -1, -1, -1, 1795587593463073150]


def test_frame_naming_an_undeclared_interface_stops_like_tshark(tmp_path, gen, frames, crosscheck):
    fr = frames(packets(4))
    blocks = [gen.shb(), gen.idb(1, tsresol=9), gen.epb(0, *fr[0]), gen.epb(0, *fr[1]),
              gen.epb(5, *fr[2]), gen.epb(0, *fr[3])]
    path = tmp_path / "badif.pcapng"
    path.write_bytes(b"".join(blocks))
    df, msg = read_warned(path)
    assert len(df) == 2 and "interface its section does not declare" in msg
    assert df.attrs["truncated_at"] == sum(len(b) for b in blocks[:4])
    crosscheck(path, df)                        # tshark stops at the same block


def test_simple_packet_block_before_any_interface(tmp_path, gen):
    path = tmp_path / "spb.pcapng"
    path.write_bytes(gen.shb() + gen.spb(b"\0" * 20))
    df, _ = read_warned(path)
    assert len(df) == 0 and df.attrs["truncated"]
