"""tshark_view: the small pcapng handed to tshark, and how its fields join scapy's."""

import pytest

from ksaudit.pcap import read_packets
from ksaudit.pcap.tshark_view import _write_pcapng as write_pcapng, merge


def test_frames_file_keeps_bytes_link_types_and_wire_lengths(tmp_path, gen):
    ip = bytes.fromhex("450000140001000040117cce0a0000010a000002")[:20]
    eth = b"\x02" * 12 + b"\x08\x00" + ip
    path = str(tmp_path / "frames.pcapng")
    write_pcapng(path, [(eth, 1, 1500), (ip, 101, None), (eth + b"x", 1, 0)])
    df = read_packets(path)
    assert df["caplen"].tolist() == [34, 20, 35]
    assert df["length"].tolist() == [1500, 20, 35]    # never below the captured length
    assert df.attrs["link_types"] == (1, 101)
    assert df["src"].astype(str).tolist() == ["10.0.0.1"] * 3


def test_merge_fills_only_empty_fields():
    row = {"summary": "UDP a > b", "dns_query": "scapy.test", "dns_answers": "", "tls_sni": "",
           "http_host": "", "quic_sni": "", "_by": {"scapy"}}
    merge(row, {"dns_query": "tshark.test", "quic_sni": "q.test", "dns_answers": ""})
    assert row["dns_query"] == "scapy.test" and row["quic_sni"] == "q.test"
    assert row["summary"] == "UDP a > b QUIC SNI q.test" and row["_by"] == {"scapy", "tshark"}


@pytest.mark.parametrize("fields", [{}, {"tls_sni": ""}])
def test_merge_without_news_changes_nothing(fields):
    row = {"summary": "s", "dns_query": "", "dns_answers": "", "tls_sni": "", "http_host": "",
           "quic_sni": "", "_by": {"scapy"}}
    merge(row, fields)
    assert row["summary"] == "s" and row["_by"] == {"scapy"}
