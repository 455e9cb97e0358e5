"""ksaudit.dissect: deep dissection of chosen frames, checked against tshark.

Every capture here is written by the test itself (scapy, or struct for the
cases scapy will not write: cut frames, cut files, raw IP).
"""

import hashlib
import hmac
import os
import shutil
import stat
import struct
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Ether
from scapy.layers.tls.all import (TLS, ServerName, TLS_Ext_ServerName,
                                  TLS_Ext_SupportedVersion_CH, TLSClientHello)
from scapy.packet import Raw
from scapy.utils import wrpcap, wrpcapng

import ksaudit
from ksaudit import KsauditError
from ksaudit.pcap.dissect import NOT_IN_CAPTURE, client_hello_sni, dissect

TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
HOSTILE = b'<script>alert("x")</script>\x07\'q'
DEV, RES = "10.0.0.2", "203.0.113.80"


def client_hello_12(sni: bytes) -> bytes:
    """A TLS 1.2 ClientHello handshake message (no record header), by hand."""
    sn = struct.pack("!HBH", len(sni) + 3, 0, len(sni)) + sni
    ext = struct.pack("!HH", 0, len(sn)) + sn + struct.pack("!HHH", 10, 2, 0)[:4]
    body = (b"\x03\x03" + b"\x11" * 32 + b"\x00" + struct.pack("!HH", 2, 0xC02F)
            + b"\x01\x00" + struct.pack("!H", len(ext)) + ext)
    return b"\x01" + len(body).to_bytes(3, "big") + body


def records(handshake: bytes, cut: int | None = None) -> bytes:
    """TLS handshake records; `cut` splits the message over two records."""
    parts = [handshake] if cut is None else [handshake[:cut], handshake[cut:]]
    return b"".join(b"\x16\x03\x01" + struct.pack("!H", len(p)) + p for p in parts)


def client_hello_13(sni: bytes) -> bytes:
    """A TLS 1.3 ClientHello record built with scapy.layers.tls."""
    return bytes(TLS(msg=[TLSClientHello(
        gmt_unix_time=0, random_bytes=b"\x22" * 28, ciphers=[0x1301],
        ext=[TLS_Ext_ServerName(servernames=[ServerName(servername=sni)]),
             TLS_Ext_SupportedVersion_CH(versions=[0x0304])])]))


def quic_initial(dcid: bytes, handshake: bytes) -> bytes:
    """A real QUIC v1 client Initial (RFC 9001 keys, AES-GCM, header protection)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    def label(secret, name, size):
        full = b"tls13 " + name
        info = struct.pack("!HB", size, len(full)) + full + b"\x00"
        return hmac.new(secret, info + b"\x01", hashlib.sha256).digest()[:size]

    salt = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
    client = label(hmac.new(salt, dcid, hashlib.sha256).digest(), b"client in", 32)
    key, iv, hp = label(client, b"quic key", 16), label(client, b"quic iv", 12), label(client, b"quic hp", 16)
    crypto = b"\x06\x00" + struct.pack("!H", 0x4000 | len(handshake)) + handshake
    payload = crypto + b"\x00" * (1162 - len(crypto))
    header = (b"\xc3\x00\x00\x00\x01" + bytes([len(dcid)]) + dcid + b"\x00\x00"
              + struct.pack("!HI", 0x4000 | (4 + len(payload) + 16), 2))
    nonce = bytes(a ^ b for a, b in zip(iv, (2).to_bytes(12, "big")))
    sealed = AESGCM(key).encrypt(nonce, payload, header)
    encryptor = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = encryptor.update(sealed[:16]) + encryptor.finalize()
    head = bytearray(header)
    head[0] ^= mask[0] & 0x0F
    for i in range(4):
        head[-4 + i] ^= mask[1 + i]
    return bytes(head) + sealed


def test_quic_key_derivation_matches_rfc9001():
    # RFC 9001 A.1: client key for DCID 8394c8f03e515708 (guards the test builder)
    salt = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
    init = hmac.new(salt, bytes.fromhex("8394c8f03e515708"), hashlib.sha256).digest()
    info = lambda n, s: struct.pack("!HB", s, 6 + len(n)) + b"tls13 " + n + b"\x00\x01"
    client = hmac.new(init, info(b"client in", 32), hashlib.sha256).digest()
    key = hmac.new(client, info(b"quic key", 16), hashlib.sha256).digest()[:16]
    assert key.hex() == "1f369613dd76d5467730efcbe3b1a22d"


def ip_packets():
    """(L3 packet, expected fields) for the standard capture, frame order."""
    q = DNS(id=7, rd=1, qd=[DNSQR(qname="example.com")])
    r = DNS(id=7, qr=1, ra=1, qd=[DNSQR(qname="example.com")], an=[
        DNSRR(rrname="example.com", type="A", rdata="93.184.216.34"),
        DNSRR(rrname="example.com", type="AAAA", rdata="2606:2800:220:1::1946")])
    tcp = dict(sport=40000, flags="PA", seq=1000, ack=1)
    return [
        (IP(src=DEV, dst=RES) / UDP(sport=5353, dport=53) / q, {"dns_query": "example.com"}),
        (IP(src=RES, dst=DEV) / UDP(sport=53, dport=5353) / r,
         {"dns_query": "example.com",
          "dns_answers": "example.com A 93.184.216.34; example.com AAAA 2606:2800:220:1::1946"}),
        (IP(src=DEV, dst="203.0.113.81") / TCP(dport=443, **tcp) / Raw(records(client_hello_12(b"tls12.example.org"))),
         {"tls_sni": "tls12.example.org"}),
        (IP(src=DEV, dst="203.0.113.82") / TCP(dport=443, **tcp) / Raw(client_hello_13(b"tls13.example.org")),
         {"tls_sni": "tls13.example.org"}),
        (IP(src=DEV, dst="203.0.113.83") / TCP(dport=80, **tcp)
         / Raw(b"GET /index.html HTTP/1.1\r\nUser-Agent: t\r\nHost: web.example.net\r\n\r\n"),
         {"http_host": "web.example.net"}),
        (IP(src=DEV, dst="203.0.113.84") / UDP(sport=1234, dport=4321) / Raw(b"plain bytes"), {}),
        (IP(src=DEV, dst=RES) / UDP(sport=5354, dport=53) / DNS(rd=1, qd=[DNSQR(qname=HOSTILE + b".evil.test")]),
         {"dns_query": '<script>alert("x")</script>\\x07\'q.evil.test'}),
        (IPv6(src="2001:db8::2", dst="2001:db8::53") / UDP(sport=5355, dport=53)
         / DNS(rd=1, qd=[DNSQR(qname="v6.example.com", qtype="AAAA")]), {"dns_query": "v6.example.com"}),
        (IP(src=DEV, dst="203.0.113.85") / TCP(sport=40001, dport=443, flags="S"), {}),
    ]


def write_pcap(path, linktype, datas, snaplen=65535, wirelens=None):
    """Classic µs pcap by hand (lets a test cut frames below their wire length)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)]
    for i, data in enumerate(datas):
        wire = wirelens[i] if wirelens else len(data)
        out.append(struct.pack("<IIII", 1_700_000_000, i, len(data), wire) + data)
    with open(path, "wb") as fh:
        fh.write(b"".join(out))
    return str(path)


def _ethertype(pkt):
    return 0x86DD if pkt.version == 6 else 0x0800


def build(kind, path):
    pkts = [p for p, _ in ip_packets()]
    if kind == "ether-pcap":
        wrpcap(str(path), [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / p for p in pkts]
               + [Ether() / ARP(psrc=DEV, pdst="10.0.0.1")])
    elif kind == "ether-pcapng":
        wrpcapng(str(path), [Ether() / p for p in pkts] + [Ether() / ARP(psrc=DEV, pdst="10.0.0.1")])
    elif kind == "sll2":
        wrpcap(str(path), [CookedLinuxV2(proto=_ethertype(p), ifindex=2, pkttype=4) / p for p in pkts]
               + [CookedLinuxV2(proto=0x0806, ifindex=2) / ARP(psrc=DEV, pdst="10.0.0.1")], linktype=276)
    elif kind == "sll":
        wrpcap(str(path), [CookedLinux(proto=_ethertype(p), pkttype=4) / p for p in pkts]
               + [CookedLinux(proto=0x0806) / ARP(psrc=DEV, pdst="10.0.0.1")], linktype=113)
    elif kind == "raw-ip":
        write_pcap(path, 101, [bytes(p) for p in pkts] + [bytes(IP(dst="10.0.0.1") / UDP(dport=9))])
    return str(path)


KINDS = ["ether-pcap", "ether-pcapng", "sll2", "sll", "raw-ip"]
FIELDS = ("dns_query", "dns_answers", "tls_sni", "http_host", "quic_sni")


@pytest.fixture(scope="module", params=KINDS)
def capture(request, tmp_path_factory):
    return build(request.param, tmp_path_factory.mktemp(request.param) / "cap")


@pytest.mark.parametrize("use_tshark", [True, False])
def test_fields_of_requested_frames(capture, use_tshark):
    expected = [e for _, e in ip_packets()]
    wanted = [9, 3, 1, 1, 7, 2, 4, 5, 6, 8]          # any order, with a duplicate
    table = dissect(capture, wanted, tshark="tshark" if use_tshark else None)
    assert table["frame"].tolist() == list(range(1, 10))
    assert str(table["frame"].dtype) == "int64"
    for row in table.to_dict("records"):
        want = expected[row["frame"] - 1]
        for field in FIELDS:
            assert row[field] == want.get(field, ""), (row["frame"], field, row)
        assert row["tool"].startswith("scapy")
        assert row["truncated"] is False
    if not use_tshark:
        assert table["tool"].str.contains("tshark unavailable").all()
    summary = table.set_index("frame")["summary"]
    assert summary[1] == "UDP 10.0.0.2:5353 > 203.0.113.80:53 DNS query A example.com"
    assert "TLS ClientHello SNI tls12.example.org" in summary[3]
    assert summary[5].startswith("TCP 10.0.0.2:40000 > 203.0.113.83:80 [PA] HTTP GET web.example.net")
    assert summary[8].startswith("UDP [2001:db8::2]:5355 > [2001:db8::53]:53 DNS query AAAA")


def test_unrequested_frames_are_absent(capture):
    table = dissect(capture, [4, 2])
    assert table["frame"].tolist() == [2, 4]
    assert "example.com" not in table["dns_query"].iloc[1]
    assert table["tls_sni"].tolist() == ["", "tls13.example.org"]


@needs_tshark
def test_agrees_with_tshark(capture):
    done = subprocess.run(
        [TSHARK, "-n", "-r", capture, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;",
         "-e", "frame.number", "-e", "dns.qry.name", "-e", "tls.handshake.extensions_server_name",
         "-e", "http.host"], capture_output=True, timeout=60, check=True, text=True)
    theirs = {}
    for line in done.stdout.splitlines():
        number, qname, sni, host = line.split("\t")
        theirs[int(number)] = (qname, sni, host)
    ours = dissect(capture, sorted(theirs), tshark=None).set_index("frame")
    assert len(theirs) == 10
    for frame, (qname, sni, host) in theirs.items():
        if frame == 7:        # tshark writes the BEL byte as "\a"; we write "\x07"
            assert qname.replace("\\a", "\\x07") == ours.loc[frame, "dns_query"]
            continue
        assert (ours.loc[frame, "dns_query"], ours.loc[frame, "tls_sni"],
                ours.loc[frame, "http_host"]) == (qname, sni, host), frame


def test_hostile_text_is_kept_as_text_but_tamed(tmp_path):
    long_name = ".".join(["a" * 60] * 5)     # 304 characters of labels
    pkts = [Ether() / IP(src=DEV, dst=RES) / UDP(sport=5353, dport=53) / DNS(qd=[DNSQR(qname=long_name)]),
            Ether() / IP(src=DEV, dst=RES) / TCP(sport=1, dport=80, flags="PA")
            / Raw(b"GET / HTTP/1.1\r\nHost: \x1b[31m<b>'\"evil\x00\r\n\r\n"),
            Ether() / IP(src=DEV, dst=RES) / TCP(sport=1, dport=443, flags="PA")
            / Raw(records(client_hello_12(b"x\x01<script>" + b"s" * 400)))]
    path = str(tmp_path / "hostile.pcap")
    wrpcap(path, pkts)
    rows = dissect(path, [1, 2, 3]).to_dict("records")
    assert len(rows[0]["dns_query"]) == 253 and rows[0]["dns_query"].endswith("\u2026")
    assert rows[1]["http_host"] == "\\x1b[31m<b>'\"evil\\x00"
    assert rows[2]["tls_sni"].startswith("x\\x01<script>sss") and len(rows[2]["tls_sni"]) == 253
    for row in rows:
        for value in row.values():
            if isinstance(value, str):
                assert all(c.isprintable() for c in value), value


@needs_tshark
@pytest.mark.parametrize("context", ["frames", "file"])
def test_quic_initial_sni_comes_from_tshark(tmp_path, context):
    hello = client_hello_12(b"quic.example.com")
    path = str(tmp_path / "quic.pcap")
    wrpcap(path, [Ether() / IP(src=DEV, dst="203.0.113.90") / UDP(sport=50000, dport=443)
                  / Raw(quic_initial(bytes.fromhex("8394c8f03e515708"), hello)),
                  Ether() / IP(src=DEV, dst=RES) / UDP(sport=5353, dport=53) / DNS(qd=[DNSQR(qname="x.test")])])
    row = dissect(path, [1], context=context).iloc[0]
    assert row["quic_sni"] == "quic.example.com"
    assert row["tls_sni"] == ""
    assert row["tool"] == "scapy+tshark"
    assert "QUIC Initial" in row["summary"] and "quic.example.com" in row["summary"]
    alone = dissect(path, [1], tshark=None).iloc[0]
    assert alone["quic_sni"] == "" and "tshark unavailable" in alone["tool"]


def test_client_hello_over_two_records_in_one_segment(tmp_path):
    path = str(tmp_path / "records.pcap")
    wrpcap(path, [Ether() / IP(src=DEV, dst=RES) / TCP(sport=1, dport=443, flags="PA")
                  / Raw(records(client_hello_12(b"two.records.test"), cut=30))])
    assert dissect(path, [1], tshark=None)["tls_sni"].tolist() == ["two.records.test"]


@needs_tshark
@pytest.mark.parametrize("context", ["frames", "file"])
def test_client_hello_over_two_tcp_segments(tmp_path, context):
    data = records(client_hello_12(b"split.segments.test"))
    mk = lambda seq, chunk: Ether() / IP(src=DEV, dst=RES) / TCP(sport=2, dport=443, flags="PA", seq=seq, ack=1) / Raw(chunk)
    path = str(tmp_path / "segments.pcap")
    wrpcap(path, [mk(100, data[:60]), mk(160, data[60:])])
    rows = dissect(path, [1, 2], context=context).to_dict("records")
    assert "ClientHello (incomplete)" in rows[0]["summary"] and rows[0]["tls_sni"] == ""
    assert rows[1]["tls_sni"] == "split.segments.test" and rows[1]["tool"] == "scapy+tshark"


def test_cut_frames_and_cut_file(tmp_path):
    query = bytes(Ether() / IP(src=DEV, dst=RES) / UDP(sport=5353, dport=53) / DNS(qd=[DNSQR(qname="cut.example.com")]))
    hello = bytes(Ether() / IP(src=DEV, dst=RES) / TCP(sport=3, dport=443, flags="PA")
                  / Raw(records(client_hello_12(b"cut.tls.test"))))
    cut_q, cut_h = query[:14 + 20 + 8 + 12 + 5], hello[:14 + 20 + 20 + 30]
    path = write_pcap(tmp_path / "snap.pcap", 1, [cut_q, cut_h, query], wirelens=[len(query), len(hello), len(query)])
    with open(path, "ab") as fh:     # a last record cut mid-way, then the file ends
        fh.write(struct.pack("<IIII", 1_700_000_001, 0, len(query), len(query)) + query[:20])
    rows = dissect(path, [1, 2, 3, 4, 5]).to_dict("records")
    assert rows[0]["truncated"] and rows[0]["dns_query"] == "cut..."
    assert "cut at 59 of" in rows[0]["summary"]
    assert rows[1]["truncated"] and "ClientHello (incomplete)" in rows[1]["summary"]
    assert rows[2]["dns_query"] == "cut.example.com" and not rows[2]["truncated"]
    assert rows[3]["truncated"] and rows[3]["dns_query"] == ""
    assert rows[4]["summary"] == NOT_IN_CAPTURE


def test_frames_not_in_capture(capture):
    table = dissect(capture, [0, -3, 10_000, 1])
    assert table["frame"].tolist() == [-3, 0, 1, 10_000]
    assert table.set_index("frame").loc[[-3, 0, 10_000], "summary"].eq(NOT_IN_CAPTURE).all()
    assert (table.loc[table["frame"] != 1, list(FIELDS)] == "").all().all()


def test_empty_request_gives_empty_table(capture):
    table = dissect(capture, [])
    assert table.empty and "tls_sni" in table.columns


@pytest.mark.parametrize("case", ["missing", "directory", "not-a-capture", "empty", "unreadable"])
def test_bad_files_raise_project_error(tmp_path, case):
    path = tmp_path / "bad.pcap"
    if case == "directory":
        path.mkdir()
    elif case == "not-a-capture":
        path.write_bytes(b"this is a log file, not a capture\n" * 10)
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "unreadable":
        if os.geteuid() == 0:
            pytest.skip("root reads any file")
        path.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\0" * 20)
        path.chmod(0)
    with pytest.raises(KsauditError, match="bad.pcap"):
        dissect(path, [1])


@pytest.mark.parametrize("frame", ["1", 1.0, None, True])
def test_frame_numbers_must_be_integers(capture, frame):
    with pytest.raises(KsauditError, match="not an integer"):
        dissect(capture, [1, frame])


def fake_tshark(tmp_path, script):
    exe = tmp_path / "tshark"
    exe.write_text("#!/bin/sh\n" + script + "\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return str(exe)


@pytest.mark.parametrize("script,said", [("sleep 5", "timed out"), ("echo boom >&2; exit 2", "boom"),
                                         ("echo '[{not json'", "tshark failed")])
def test_a_failing_tshark_leaves_scapys_view(capture, tmp_path, script, said):
    table = dissect(capture, [1, 3], tshark=fake_tshark(tmp_path, script), timeout_s=1)
    assert table["dns_query"].tolist() == ["example.com", ""]
    assert table["tls_sni"].tolist() == ["", "tls12.example.org"]
    assert table["tool"].str.contains(said).all()


def test_public_api_and_bad_context(capture):
    assert ksaudit.dissect is dissect
    with pytest.raises(KsauditError, match="context"):
        dissect(capture, [1], context="everything")


def test_client_hello_parser_on_pieces():
    hello = records(client_hello_12(b"p.test"))
    assert client_hello_sni(hello) == ("ClientHello", b"p.test")
    assert client_hello_sni(hello[:40]) == ("ClientHello (incomplete)", None)
    assert client_hello_sni(b"\x16\x03\x03\x00\x04\x02\x00\x00\x00") == ("handshake", None)
    assert client_hello_sni(b"GET / HTTP/1.1\r\n") == ("", None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=300), port=st.sampled_from([53, 443, 80, 5353]), tcp=st.booleans())
def test_any_payload_gives_a_row_never_an_exception(tmp_path, payload, port, tcp):
    l4 = TCP(sport=9, dport=port, flags="PA") if tcp else UDP(sport=9, dport=port)
    path = str(tmp_path / "fuzz.pcap")
    wrpcap(path, [Ether() / IP(src=DEV, dst=RES) / l4 / Raw(payload)])
    row = dissect(path, [1], tshark=None).iloc[0]
    assert row["summary"].startswith(("TCP", "UDP"))
    for field in ("summary", *FIELDS):
        assert all(c.isprintable() for c in row[field])


def test_dns_over_tcp_and_frames_above_64k(tmp_path):
    msg = bytes(DNS(id=1, rd=1, qd=[DNSQR(qname="tcp.example.com")]))
    over_tcp = Ether() / IP(src=DEV, dst=RES) / TCP(sport=7, dport=53, flags="PA") / Raw(struct.pack("!H", len(msg)) + msg)
    big = bytes(Ether() / IP(src=DEV, dst=RES, len=65535) / UDP(sport=8, dport=9)) + b"\x00" * 70_000
    path = write_pcap(tmp_path / "tcpdns.pcap", 1, [bytes(over_tcp), big], snaplen=262144)
    rows = dissect(path, [1, 2], tshark=None).to_dict("records")
    assert rows[0]["dns_query"] == "tcp.example.com"
    assert rows[1]["truncated"] is False      # scapy's default 64 KiB read cap is lifted


@needs_tshark
def test_pcapng_custom_block_takes_a_frame_number_like_wireshark(tmp_path):
    def block(kind, body):
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    dns = bytes(Ether() / IP(src=DEV, dst=RES) / UDP(sport=5353, dport=53) / DNS(qd=[DNSQR(qname="after.custom.test")]))
    epb = lambda data: block(6, struct.pack("<IIIII", 0, 0, 0, len(data), len(data)) + data)
    path = tmp_path / "custom.pcapng"
    path.write_bytes(block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
                     + block(1, struct.pack("<HHI", 1, 0, 0)) + epb(dns)
                     + block(0x00000BAD, b"\0\0\0\0custom") + epb(dns.replace(b"after", b"later")))
    rows = dissect(path, [1, 2, 3]).to_dict("records")
    assert rows[1]["summary"] == "pcapng custom block, not a packet"
    assert [r["dns_query"] for r in rows] == ["after.custom.test", "", "later.custom.test"]
    done = subprocess.run([TSHARK, "-r", str(path), "-T", "fields", "-e", "frame.number", "-e", "dns.qry.name"],
                          capture_output=True, text=True, timeout=60)
    assert "3\tlater.custom.test" in done.stdout.splitlines()


def test_frame_numbers_agree_with_the_packet_table(capture):
    packets = ksaudit.read_packets(capture)
    dns_frames = packets.loc[packets["dport"] == 53, "frame"].tolist()
    tls_frames = packets.loc[(packets["dport"] == 443) & (packets["tcp_flags"] & 0x08 != 0), "frame"].tolist()
    assert len(dns_frames) == 3 and len(tls_frames) == 2
    table = dissect(capture, dns_frames + tls_frames, tshark=None).set_index("frame")
    assert (table.loc[dns_frames, "dns_query"] != "").all()
    assert table.loc[tls_frames, "tls_sni"].tolist() == ["tls12.example.org", "tls13.example.org"]
