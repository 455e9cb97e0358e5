"""IP carried inside PPPoE sessions and MPLS is decoded to its inner header, as tshark does.

A frame the decoder cannot see into must not pass for link upkeep: the classifier
counts it as a leak (category ``other``), so these tests pin both sides: the inner
addresses where tshark finds them, and ``ip_version`` 0 where it does not.
"""

import random

from scapy.all import ICMP, IP, TCP, UDP, Dot1Q, Ether, IPv6, Raw
from scapy.contrib.mpls import MPLS
from scapy.layers.ppp import PPP, PPPoE, PPPoED
from scapy.layers.l2 import CookedLinuxV2

from ksaudit.pcap import read_packets

MAC = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def encap_packets():
    return [
        Ether(**MAC) / PPPoE(sessionid=7) / PPP(proto=0x0021)
        / IP(src="100.64.1.2", dst="203.0.113.9") / UDP(sport=1234, dport=53),
        Ether(**MAC) / PPPoE(sessionid=7) / PPP(proto=0x0057)
        / IPv6(src="2001:db8::2", dst="2001:db8:9::9") / TCP(sport=5, dport=443),
        Ether(**MAC) / PPPoE(sessionid=7) / PPP(proto=0xC021) / Raw(b"\x09\x01\x00\x08abcd"),
        Ether(**MAC) / Dot1Q(vlan=7) / PPPoE(sessionid=7) / PPP(proto=0x0021)
        / IP(src="100.64.1.2", dst="203.0.113.10") / ICMP(),
        Ether(**MAC, type=0x8847) / MPLS(label=100, s=0) / MPLS(label=200, s=1)
        / IP(src="10.1.1.1", dst="203.0.113.11") / UDP(sport=1, dport=2),
        Ether(**MAC, type=0x8847) / MPLS(label=2, s=1)
        / IPv6(src="2001:db8::1", dst="2001:db8:9::11") / UDP(sport=1, dport=2),
        Ether(**MAC, type=0x8847) / MPLS(label=0, s=1)
        / IP(src="10.1.1.1", dst="203.0.113.12") / TCP(),
        Ether(**MAC, type=0x8848) / MPLS(label=300, s=1)
        / IP(src="10.1.1.1", dst="203.0.113.13") / TCP(),
        Ether(**MAC, type=0x8863) / PPPoED(),
        Ether(**MAC, type=0x9999) / Raw(b"\x45" * 40),
    ]


def test_pppoe_and_mpls_inner_ip_matches_tshark(tmp_path, gen, frames, crosscheck):
    path = tmp_path / "encap.pcap"
    path.write_bytes(gen.pcap(frames(encap_packets()), nano=True))
    df = read_packets(path)
    crosscheck(path, df)
    got = list(zip(df["ip_version"], df["dst"].astype(str), df["ethertype"], df["ppp_proto"]))
    assert got == [
        (4, "203.0.113.9", 0x8864, 0x0021), (6, "2001:db8:9::9", 0x8864, 0x0057),
        (0, "", 0x8864, 0xC021), (4, "203.0.113.10", 0x8864, 0x0021),
        (4, "203.0.113.11", 0x8847, -1), (6, "2001:db8:9::11", 0x8847, -1),
        (4, "203.0.113.12", 0x8847, -1), (4, "203.0.113.13", 0x8848, -1),
        (0, "", 0x8863, -1), (0, "", 0x9999, -1)]
    assert list(df["dport"])[:2] == [53, 443] and df["vlan"].tolist()[3] == 7


def test_pppoe_in_linux_cooked_capture(tmp_path, gen, frames, crosscheck):
    """``tcpdump -i any`` on the Ethernet under a PPPoE client: SLL2 protocol 0x8864."""
    inner = PPPoE(sessionid=1) / PPP(proto=0x0021) / IP(src="100.64.1.2", dst="203.0.113.80") \
        / UDP(sport=40000, dport=33434) / Raw(b"KSAPROBE 5 1795587593000000000")
    path = tmp_path / "sll2.pcap"
    pk = [CookedLinuxV2(proto=0x8864, ifindex=2, pkttype=4) / inner]
    path.write_bytes(gen.pcap(frames(pk), linktype=276, nano=True))
    df = read_packets(path)
    crosscheck(path, df)
    row = df.iloc[0]
    assert (row["ip_version"], row["dst"], row["probe_seq"], row["direction"]) == \
        (4, "203.0.113.80", 5, "out")


def test_mpls_pseudowire_stays_undecoded(tmp_path, gen, frames, crosscheck):
    """An Ethernet pseudowire (first nibble 0) is not IP by the nibble: left undecoded."""
    pw = Ether(**MAC, type=0x8847) / MPLS(label=300, s=1) / Raw(b"\0\0\0\0" + bytes(
        Ether(**MAC, type=0x0800) / IP(src="10.1.1.1", dst="203.0.113.14") / UDP()))
    path = tmp_path / "pw.pcap"
    path.write_bytes(gen.pcap(frames([pw]), nano=True))
    df = read_packets(path)
    rows = crosscheck(path, df)
    assert df["ip_version"].tolist() == [0] and rows[0]["ip.src"] == ""


def test_encapsulated_headers_cut_by_snaplen_match_tshark(tmp_path, gen, frames, crosscheck):
    random.seed(11)
    base = [bytes(p) for p in encap_packets()]
    cut = []
    for _ in range(300):
        b = random.choice(base)
        cut.append((b[:random.randrange(1, len(b) + 1)], len(b)))
    fr = [(t, d, wire) for (t, _), (d, wire) in zip(frames([d for d, _ in cut]), cut)]
    path = tmp_path / "cut.pcap"
    path.write_bytes(gen.pcap(fr, nano=True))
    df = read_packets(path)
    crosscheck(path, df)
    assert (df["ip_version"] == 4).any() and (df["ip_version"] == 0).any()
