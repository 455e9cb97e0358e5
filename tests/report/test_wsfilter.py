"""The explorer's filter language (ksaudit.report.wsfilter) on a packet table read by
ksaudit from frames scapy wrote: every field, relation, connective and error, the
pandas fallback, and the leak table of a real analysis."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

import ksaudit
from ksaudit.errors import KsauditError
from ksaudit.leaks.classify import RULES
from ksaudit.report import explore, wsfilter

SAMPLE = Path(__file__).resolve().parents[2] / "captures" / "samples" / "2026.11.0-lab" / "none-process-kill"
DEV, SRV = "192.0.2.10", "203.0.113.80"
FRAMES = [  # frame number: (scapy frame, rule, episode)
    (Ether() / IP(src=DEV, dst=SRV) / UDP(sport=40000, dport=53) / DNS(rd=1, qd=DNSQR(qname="a.example")),
     "leak", 1),                                                                           # 1
    (Ether() / IP(src=DEV, dst=SRV) / TCP(sport=40001, dport=443, flags="S"), "leak", 1),   # 2
    (Ether() / IP(src=SRV, dst=DEV) / UDP(sport=53, dport=40000)
     / DNS(qr=1, qd=DNSQR(qname="a.example"), an=DNSRR(rrname="a.example", rdata="198.51.100.9")),
     "leak_reply", 1),                                                                     # 3
    (Ether() / IPv6(src="2001:db8::10", dst="2001:db8::53") / UDP(sport=40002, dport=53)
     / DNS(rd=1, qd=DNSQR(qname="b.example")), "leak", 2),                                 # 4
    (Ether() / IPv6(src="2001:db8::10", dst="2001:db8::80") / TCP(sport=40003, dport=80), "leak", 2),  # 5
    (Ether() / ARP(psrc=DEV, pdst="192.0.2.1"), "link_upkeep", 0),                         # 6
    (Ether() / IP(src=DEV, dst="198.51.100.1") / ICMP(), "inside_tunnel", 0),              # 7
    (Ether() / IP(src=DEV, dst="224.0.0.251") / UDP(sport=5353, dport=5353) / Raw(b"m" * 20),
     "lan_allowed", 0),                                                                    # 8
    (Ether() / IP(src=DEV, dst="198.51.100.1") / UDP(sport=41000, dport=51820) / Raw(b"w" * 1200),
     "tunnel_transport", 0),                                                               # 9
    (Ether() / IP(src="10.8.0.2", dst="10.8.0.1") / TCP(sport=40004, dport=53), "inside_tunnel", 0),  # 10
]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """The frames above as ksaudit reads them, with the rule and episode columns the
    analysis adds (same dtypes)."""
    pkts = []
    for i, (p, _, _) in enumerate(FRAMES):
        p.time = 1_795_594_197 + i / 1000
        pkts.append(p)
    path = tmp_path_factory.mktemp("wsfilter") / "frames.pcap"
    wrpcap(str(path), pkts)
    packets = ksaudit.read_packets(path)
    packets["rule"] = pd.Categorical([r for _, r, _ in FRAMES], categories=list(RULES))
    packets["episode"] = np.array([e for _, _, e in FRAMES], dtype=np.int32)
    return packets


def frames(text, table):
    return table["frame"][wsfilter.mask(text, table)].tolist()


@pytest.mark.parametrize("text, expected", [
    ("ip.src == 192.0.2.10", [1, 2, 7, 8, 9]),            # not the ARP frame's sender address
    ("ip.dst == 203.0.113.80", [1, 2]),
    ("ip.addr == 203.0.113.80", [1, 2, 3]),
    ("ip.addr eq 203.0.113.80", [1, 2, 3]),
    ("ip.dst == 198.51.100.0/24", [7, 9]),
    ("ip.src != 192.0.2.10", [3, 10]),                     # IPv4 frames only
    ("ip.addr != 192.0.2.10", [10]),                       # neither address
    ("ipv6.addr == 2001:db8::53", [4]),
    ("ipv6.src == 2001:db8::10", [4, 5]),
    ("ipv6.dst == 2001:db8::/64 and tcp", [5]),
    ("udp.port == 53", [1, 3, 4]),
    ("tcp.port == 53", [10]),
    ("udp.srcport == 53", [3]),
    ("tcp.dstport == 443", [2]),
    ("udp.port != 53", [8, 9]),                            # UDP frames, neither port 53
    ("udp.port in {53 5353}", [1, 3, 4, 8]),
    ("tcp.port in {80, 443}", [2, 5]),
    ("udp.port > 50000", [9]),
    ("frame.len > 1000", [9]),
    ("frame.len < 50", [6, 7]),
    ("frame.len <= 54", [2, 6, 7, 10]),
    ("frame.len ge 1242", [9]),
    ("frame.number == 6", [6]),
    ("dns", [1, 3, 4, 10]),                                # TCP or UDP port 53; not mDNS
    ("leak", [1, 2, 4, 5]),
    ("leak_reply", [3]),
    ("episode == 1", [1, 2, 3]),
    ("episode != 1", [4, 5, 6, 7, 8, 9, 10]),
    ("episode", [1, 2, 3, 4, 5]),
    ("leak and not dns", [2, 5]),
    ("leak && !dns", [2, 5]),
    ("leak || leak_reply", [1, 2, 3, 4, 5]),
    ("leak or leak_reply and episode == 2", [1, 2, 4, 5]),  # and binds tighter than or
    ("(leak or leak_reply) and episode == 2", [4, 5]),
    ("!(ip || ipv6)", [6]),
    ("not not arp", [6]),
    ("icmp", [7]),
    ("ipv6 && udp", [4]),
    ("dport == 53", [1, 4, 10]),                           # a column by its own name
    ('iface == "#0" && dst == "224.0.0.251"', [8]),
    ("rule == 'leak_reply'", [3]),
    ("ip.dst==203.0.113.80&&tcp.port==443", [2]),          # no blanks needed
    ("  ", list(range(1, 11))),
])
def test_filter_forms_select_the_right_frames(table, text, expected):
    assert frames(text, table) == expected


@pytest.mark.parametrize("text, message", [
    ("dst == 203.0.113.80", 'at 8: quote the address: dst == "203.0.113.80", or write ip.dst == 203.0.113.80'),
    ("src != 2001:db8::10", 'quote the address: src != "2001:db8::10", or write ipv6.src != 2001:db8::10'),
    ("iface == wlan0", 'quote the text: iface == "wlan0"'),
    ("dprt == 53", "unknown field 'dprt'; did you mean dport?"),
    ("udp.prot == 53", "did you mean udp.port?"),
    ("ip.src == 2001:db8::1", "'2001:db8::1' is not an IPv4 address or network (use ipv6.* fields for IPv6)"),
    ("ipv6.dst == 10.0.0.1", "is not an IPv6 address or network (use ip.* fields for IPv4)"),
    ("ip.src == dev", "'dev' is not an IPv4 address"),
    ("ip.src > 192.0.2.1", "addresses compare with == or != only, not >"),
    ("iface < \"a\"", "the text column iface compares with == or != only"),
    ("dport = 53", "at 7: '=' is not a comparison; write dport == ..."),
    ('dport == "53"', "expected a number, found '\"53\"'"),
    ("(leak or dns", "missing ')'"),
    ("leak and", "expected a field, protocol or rule name, found the end of the filter"),
    ("leak dns", "at 6: unexpected 'dns'; join tests with and / or"),
    ("udp.port in {}", "an empty set matches nothing"),
    ("udp.port in {53", "missing '}'"),
    ("udp.port in [53]", "write a set as {53 853}"),
    ("frame.len > $", "at 13: unexpected '$'"),
    ("frame.len >", "expected a value, found the end of the filter"),
])
def test_errors_say_where_and_what_to_write(table, text, message):
    with pytest.raises(wsfilter.FilterError) as err:
        wsfilter.mask(text, table)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("open_, close", [("(", ")"), ("not ", ""), ("!(", ")")])
def test_nesting_past_the_limit_is_a_filter_error_not_a_recursion_error(table, open_, close):
    deep = wsfilter.MAX_DEPTH // 2
    assert wsfilter.mask(open_ * deep + "leak" + close * deep, table).dtype == bool
    with pytest.raises(wsfilter.FilterError) as err:
        wsfilter.mask(open_ * 5000 + "leak" + close * 5000, table)
    assert "nested more than" in str(err.value) and "\n" not in str(err.value)


def test_an_unknown_field_lists_the_known_ones(table):
    with pytest.raises(wsfilter.FilterError) as err:
        wsfilter.mask("nosuch == 1", table)
    text = str(err.value)
    for name in ("ip.addr", "udp.port", "frame.len", "dns", "dport", "episode", "leak_reply"):
        assert f" {name}" in text
    fields, columns, rules = wsfilter.known_names(table)
    assert "ipv6.addr" in fields and "payload_len" in columns and list(RULES) == rules


def test_filter_packets_falls_back_to_pandas_and_says_both_when_neither_reads(table, tmp_path):
    assert explore.filter_packets(table, "dport in [53, 443]")["frame"].tolist() == [1, 2, 4, 10]
    assert explore.filter_packets(table, "leak && udp")["frame"].tolist() == [1, 4]
    with pytest.raises(KsauditError) as err:
        explore.filter_packets(table, "dst == 203.0.113.80")
    text = str(err.value)
    assert text.startswith("filter 'dst == 203.0.113.80': at 8: quote the address")
    assert "(nor a pandas query: SyntaxError" in text
    marker = tmp_path / "ran"
    with pytest.raises(KsauditError):   # the text is never run as Python
        explore.filter_packets(table, f"__import__('os').system('touch {marker}')")
    assert not marker.exists()


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="the lab's sample build is not in captures/samples")
def test_the_same_filter_masks_the_packet_and_the_leak_table_of_an_analysis():
    doc = ksaudit.analyze(SAMPLE)
    packets = doc.packets
    leaks = pd.DataFrame(doc.to_dict()["leaks"]["rows"])
    leaks["episode"] = leaks["episode"].fillna(0).astype(int)   # None = steady state
    text = "leak && ip.dst == 203.0.113.80 && udp.dstport == 33434 && episode == 1"
    on_packets = packets[wsfilter.mask(text, packets)]
    on_leaks = leaks[wsfilter.mask(text, leaks)]
    by_hand = packets[(packets["rule"] == "leak") & (packets["dst"] == SRV) & (packets["proto"] == 17)
                      & (packets["dport"] == 33434) & (packets["episode"] == 1)]
    assert len(by_hand) > 10 and on_packets["frame"].tolist() == by_hand["frame"].tolist()
    names = doc.to_dict()["leaks"]
    on_packets_keys = {(doc.to_dict()["captures"][int(c)]["file"], int(f))
                       for c, f in zip(on_packets["capture"], on_packets["frame"])}
    on_leaks_keys = set(zip(on_leaks["capture"], on_leaks["frame"].astype(int)))
    assert on_leaks_keys <= on_packets_keys
    if names["shown"] == names["total"]:
        assert on_leaks_keys == on_packets_keys
    assert wsfilter.mask("ipv6", leaks).sum() == (leaks["ip_version"] == 6).sum()
