"""read_packets against tshark on captures written here, one file per format/link type."""

import numpy as np
import pandas as pd
import pytest
from scapy.all import (AH, ARP, DNS, DNSQR, ICMP, IP, SCTP, TCP, UDP, Dot1AD, Dot1Q, Dot3, Ether,
                       ICMPv6EchoRequest, IPOption_RR, IPv6, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, LLC, Raw, STP,
                       wrpcap)

from ksaudit.pcap import read_packets
from ksaudit.schema import PACKET_COLUMNS

MAC = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def ip_packets():
    """Network-layer packets covering the decoder's cases (no link layer)."""
    v4 = dict(src="10.8.0.2", dst="198.51.100.2")
    v6 = dict(src="2001:db8::2", dst="2001:db8:1::53")
    return [
        IP(**v4) / UDP(sport=51820, dport=51820) / Raw(b"\x04\0\0\0" + b"w" * 60),
        IP(**v4, options=[IPOption_RR(routers=["1.2.3.4"])]) / TCP(sport=40000, dport=443, flags="SA"),
        IP(**v4) / TCP(sport=1, dport=2, flags="FPUEC") / Raw(b"x"),
        IP(**v4) / ICMP(type=8, code=0),
        IP(**v4) / ICMP(type=3, code=3) / IP(src="198.51.100.2", dst="10.8.0.2") / UDP(sport=53, dport=5353),
        IP(**v4) / UDP(sport=5353, dport=53) / DNS(qd=DNSQR(qname="leak.example")),
        IP(**v4) / SCTP(sport=3868, dport=3869),
        IP(**v4, flags="MF", frag=0, proto=17) / UDP(sport=7, dport=8) / Raw(b"a" * 40),
        IP(**v4, frag=6, proto=17) / Raw(b"b" * 40),
        IP(**v4, proto=47) / Raw(b"\0\0\x08\0" + b"g" * 20),
        IP(**v4) / UDP(sport=40001, dport=33434) / Raw(b"KSAPROBE 412 1795587593463073150"),
        IPv6(**v6) / TCP(sport=40002, dport=443, flags="S"),
        IPv6(**v6) / ICMPv6EchoRequest(),
        IPv6(**v6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt() / UDP(sport=9, dport=53),
        IPv6(**v6) / IPv6ExtHdrFragment(m=1, offset=0, id=9) / UDP(sport=11, dport=12) / Raw(b"c" * 40),
        IPv6(**v6) / IPv6ExtHdrFragment(m=0, offset=6, id=9, nh=17) / Raw(b"d" * 40),
        IPv6(**v6) / AH(nh=6, payloadlen=4, icv=b"\0" * 12) / TCP(sport=5, dport=6, flags="A"),
        IPv6(src="fe80::1", dst="ff02::1:ff00:2") / UDP(sport=546, dport=547) / Raw(b"KSAPROBE 7 12"),
    ]


def ether_packets():
    out = [Ether(**MAC) / p for p in ip_packets()]
    out += [
        Ether(**MAC) / ARP(psrc="192.168.1.10", pdst="192.168.1.1"),
        Ether(**MAC) / Dot1Q(vlan=42) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2),
        Ether(**MAC) / Dot1AD(vlan=100) / Dot1Q(vlan=200) / IP(src="10.0.0.3", dst="10.0.0.4") / TCP(),
        Dot3(**MAC) / LLC() / STP(),
        Ether(**MAC, type=0x88CC) / Raw(b"\0" * 30),
        Ether(**MAC) / IP(src="10.0.0.9", dst="10.0.0.10") / UDP(sport=1, dport=2) / Raw(b"pad"),
    ]
    return out


def check_schema(df):
    assert list(df.columns)[:len(PACKET_COLUMNS)] == list(PACKET_COLUMNS)
    for col, dtype in PACKET_COLUMNS.items():
        assert str(df[col].dtype) == dtype, col


def test_scapy_pcap_matches_tshark(tmp_path, crosscheck):
    pkts = ether_packets()
    for i, p in enumerate(pkts):
        p.time = 1795587593 + i / 8
    path = tmp_path / "scapy.pcap"
    wrpcap(str(path), pkts)
    df = read_packets(path)
    check_schema(df)
    crosscheck(path, df)
    assert df["frame"].tolist() == list(range(1, len(pkts) + 1))
    assert df.attrs["format"] == "pcap" and df.attrs["link_types"] == (1,)
    assert set(df["iface"]) == {"#0"} and set(df["direction"]) == {""}


@pytest.mark.parametrize("nano,big", [(True, False), (False, True), (True, True)])
def test_pcap_resolution_and_byte_order(tmp_path, gen, frames, crosscheck, nano, big):
    fr = frames(ether_packets())
    path = tmp_path / "x.pcap"
    path.write_bytes(gen.pcap(fr, nano=nano, big=big))
    df = read_packets(path)
    crosscheck(path, df)
    expect = [t if nano else t // 1000 * 1000 for t, _ in fr]
    assert df["ts_ns"].tolist() == expect
    assert df.attrs["interfaces"][0]["tsresol"] == ("10^-9" if nano else "10^-6")


def test_decoded_fields(tmp_path, gen, frames):
    """Values the cross-check cannot see: final IPv6 protocol, flags, fragments, probes."""
    path = tmp_path / "x.pcap"
    path.write_bytes(gen.pcap(frames(ether_packets()), nano=True))
    df = read_packets(path).set_index("frame")
    assert df.loc[1, ["proto", "sport", "dport"]].tolist() == [17, 51820, 51820]
    assert df.loc[3, "tcp_flags"] == 0x1 | 0x8 | 0x20 | 0x40 | 0x80
    assert df.loc[8, "fragment"] and df.loc[8, "sport"] == 7
    assert df.loc[9, "fragment"] and df.loc[9, "sport"] == -1 and df.loc[9, "proto"] == 17
    assert df.loc[11, ["probe_seq", "probe_send_ns"]].tolist() == [412, 1795587593463073150]
    assert df.loc[14, ["proto", "dport"]].tolist() == [17, 53]            # HBH/routing/dstopts
    assert df.loc[15, "fragment"] and df.loc[15, "dport"] == 12
    assert df.loc[16, "fragment"] and df.loc[16, "dport"] == -1 and df.loc[16, "proto"] == 17
    assert df.loc[17, ["proto", "dport", "tcp_flags"]].tolist() == [6, 6, 0x10]  # through AH
    assert df.loc[18, ["probe_seq", "probe_send_ns"]].tolist() == [7, 12]
    assert (df.loc[df.index != 11].loc[lambda d: d.index != 18, "probe_seq"] == -1).all()
    arp = df.loc[19]
    assert arp["arp"] and arp["ip_version"] == 0 and arp["proto"] == -1
    assert (arp["src"], arp["dst"], arp["ethertype"]) == ("192.168.1.10", "192.168.1.1", 0x0806)
    assert df.loc[20, ["vlan", "ethertype"]].tolist() == [42, 0x0800]
    assert df.loc[21, ["vlan", "ethertype", "proto"]].tolist() == [100, 0x0800, 6]
    assert df.loc[22, ["ethertype", "ip_version", "src"]].tolist() == [-1, 0, ""]
    assert df.loc[23, ["ethertype", "ip_version"]].tolist() == [0x88CC, 0]
    assert not df.loc[1:7, "fragment"].any()


def test_pcapng_two_interfaces_resolutions_offset_direction(tmp_path, gen, frames, crosscheck):
    pkts = [bytes(p) for p in ether_packets()]
    fr = frames(pkts)
    blocks = [gen.shb(), gen.idb(1, name="wlan0", tsresol=9),
              gen.idb(1, name="eth1", tsresol=0x80 | 20, tsoffset=-3600)]
    expect = []
    for i, (ts, data) in enumerate(fr):
        if i % 2:
            ticks = ts - (-3600 * 10**9)            # stored time = true time - offset
            ticks = ticks * 2**20 // 10**9
            blocks.append(gen.epb(1, ticks, data, flags=2))
            t = ticks // 2**20 * 10**9 + (ticks % 2**20) * 10**9 // 2**20 - 3600 * 10**9
            expect.append((t, "eth1", "out"))
        else:
            blocks.append(gen.epb(0, ts, data, flags=1 if i % 4 == 0 else None))
            expect.append((ts, "wlan0", "in" if i % 4 == 0 else ""))
    path = tmp_path / "two.pcapng"
    path.write_bytes(b"".join(blocks))
    df = read_packets(path)
    check_schema(df)
    crosscheck(path, df)
    assert list(zip(df["ts_ns"], df["iface"], df["direction"])) == expect
    info = df.attrs
    assert info["format"] == "pcapng"
    assert [(i["name"], i["tsresol"], i["tsoffset_s"]) for i in info["interfaces"]] == [
        ("wlan0", "10^-9", 0), ("eth1", "2^-20", -3600)]
    assert info["dropped"] is None and not info["truncated"]


def test_pcapng_sections_block_kinds_and_unknown_blocks(tmp_path, gen, frames, crosscheck):
    pk = [bytes(p) for p in ip_packets()]
    fr = frames(pk)
    data = b"".join([
        gen.shb(), gen.idb(101, name="tun0"),                    # default resolution 10^-6
        gen.epb(0, fr[0][0] // 1000, pk[0]),
        gen.block(0x00000BAD, b"custom block body"),             # numbered, no row
        gen.block(0x0000BEEF, b"unknown block body"),            # skipped
        gen.pb(0, fr[1][0] // 1000, pk[1], flags=2),             # obsolete packet block
        gen.shb(big=True), gen.idb(229, name="v6only", tsresol=9, big=True),
        gen.idb(228, tsresol=3, big=True),
        gen.epb(0, fr[11][0], pk[11], big=True),
        gen.epb(1, fr[2][0] // 10**6, pk[2], big=True),
        gen.shb(), gen.idb(101, tsresol=9), gen.spb(pk[3]),
    ])
    path = tmp_path / "sections.pcapng"
    path.write_bytes(data)
    df = read_packets(path)
    crosscheck(path, df, records=1)                            # tshark numbers the custom block
    assert df["frame"].tolist() == [1, 3, 4, 5, 6]
    assert df["iface"].tolist() == ["tun0", "tun0", "v6only", "#2", "#3"]
    assert df["direction"].tolist() == ["", "out", "", "", ""]
    assert df["ts_ns"].iloc[3] == fr[2][0] // 10**6 * 10**6
    assert df.attrs["link_types"] == (101, 229, 228)


def test_sll_direction(tmp_path, gen, frames, crosscheck):
    pk = ip_packets()
    data = [gen.sll(bytes(p), proto=0x86DD if p.version == 6 else 0x0800, pkttype=i % 5)
            for i, p in enumerate(pk)]
    data.append(gen.sll(bytes(ARP(psrc="10.1.1.1", pdst="10.1.1.2")), proto=0x0806, pkttype=4))
    path = tmp_path / "sll.pcap"
    path.write_bytes(gen.pcap(frames(data), linktype=113, nano=True))
    df = read_packets(path)
    crosscheck(path, df)
    assert df["direction"].tolist() == ["out" if i % 5 == 4 else "in" for i in range(len(pk))] + ["out"]
    assert df["arp"].iloc[-1] and df["src"].iloc[-1] == "10.1.1.1"


def test_sll2_ifindex_map(tmp_path, gen, frames, crosscheck):
    pk = ip_packets()
    data = [gen.sll2(bytes(p), ifindex=[2, 3, 7][i % 3], pkttype=4 if i % 2 else 0,
                     proto=0x86DD if p.version == 6 else 0x0800) for i, p in enumerate(pk)]
    path = tmp_path / "any.pcap"
    path.write_bytes(gen.pcap(frames(data), linktype=276, nano=True))
    df = read_packets(path, ifindex={2: "wlan0", 3: "wg0"})
    crosscheck(path, df)
    assert df["iface"].tolist() == [["wlan0", "wg0", "#7"][i % 3] for i in range(len(pk))]
    assert sorted(df["iface"].cat.categories) == ["#7", "wg0", "wlan0"]   # no unused "#0"
    assert df["direction"].tolist() == ["out" if i % 2 else "in" for i in range(len(pk))]
    plain = read_packets(path)
    assert plain["iface"].tolist() == [["#2", "#3", "#7"][i % 3] for i in range(len(pk))]


@pytest.mark.parametrize("linktype", [101, 12, 14, 228, 229])
def test_raw_ip(tmp_path, gen, frames, crosscheck, linktype):
    pk = ip_packets()
    if linktype == 228:
        pk = [p for p in pk if p.version == 4]
    elif linktype == 229:
        pk = [p for p in pk if p.version == 6]
    path = tmp_path / "raw.pcap"
    path.write_bytes(gen.pcap(frames(pk), linktype=linktype))
    df = read_packets(path)
    crosscheck(path, df)
    assert (df["ip_version"] == [p.version for p in pk]).all()
    assert (df["ethertype"] == [0x0800 if p.version == 4 else 0x86DD for p in pk]).all()


@pytest.mark.parametrize("linktype,big,v6family", [(0, False, 30), (0, True, 24), (108, True, 28),
                                                   (0, False, 10)])
def test_null_and_loop(tmp_path, gen, frames, crosscheck, linktype, big, v6family):
    pk = ip_packets()
    data = [gen.null(bytes(p), 2 if p.version == 4 else v6family, big=big) for p in pk]
    path = tmp_path / "null.pcap"
    path.write_bytes(gen.pcap(frames(data), linktype=linktype))
    df = read_packets(path)
    if v6family != 10:       # Wireshark does not know Linux's AF_INET6 (10) in a null header
        crosscheck(path, df)
    assert df["ip_version"].tolist() == [p.version for p in pk]


def test_other_link_type_gets_rows(tmp_path, gen, frames, crosscheck):
    path = tmp_path / "other.pcap"
    path.write_bytes(gen.pcap(frames([b"\x01\x02\x03", b"\xff" * 40]), linktype=147))
    df = read_packets(path)
    crosscheck(path, df)
    assert df["length"].tolist() == [3, 40]
    assert (df["ip_version"] == 0).all() and (df["src"] == "").all() and (df["proto"] == -1).all()


def test_many_addresses_grow_the_table(tmp_path, gen, frames, crosscheck):
    pk = [IP(src=f"10.{i // 250}.{i % 250}.1", dst=f"172.16.{i % 7}.1") / UDP(sport=i, dport=53)
          for i in range(6000)]
    pk += [IPv6(src=f"2001:db8::{i:x}", dst="::1") / UDP(sport=1, dport=2) for i in range(3000)]
    path = tmp_path / "many.pcap"
    path.write_bytes(gen.pcap(frames(pk), linktype=101))
    df = read_packets(path)
    assert df["src"].tolist() == [p.src for p in pk]
    assert df["dst"].nunique() == 8
    crosscheck(path, df)


def test_snaplen_cut_frames(tmp_path, gen, frames, crosscheck):
    pk = [bytes(p)[:34] for p in ether_packets()[2:8]]            # Ethernet + IPv4 header only
    fr = [(t, d, 200) for t, d in frames(pk)]
    path = tmp_path / "snap.pcap"
    path.write_bytes(gen.pcap(fr, snaplen=34))
    df = read_packets(path)
    crosscheck(path, df)
    assert (df["length"] == 200).all() and (df["caplen"] == 34).all()
    assert (df["sport"] == -1).all() and (df["ip_version"] == 4).all()


def test_empty_capture_has_schema(tmp_path, gen):
    path = tmp_path / "none.pcap"
    path.write_bytes(gen.pcap([]))
    df = read_packets(path)
    check_schema(df)
    assert len(df) == 0 and df.attrs["packets"] == 0 and df.attrs["first_ns"] is None


def test_memory_per_packet(tmp_path, gen, frames):
    pk = [bytes(Ether(**MAC) / IP(src="10.0.0.1", dst=f"10.0.{i % 200}.2") / UDP(sport=1, dport=2))
          for i in range(20000)]
    path = tmp_path / "mem.pcap"
    path.write_bytes(gen.pcap(frames(pk)))
    df = read_packets(path)
    # 88 bytes today: 76 before payload_len (int32) and payload_head (int64: a uint32 or -1)
    assert df.memory_usage(deep=True).sum() / len(df) <= 90
    assert isinstance(df["src"].dtype, pd.CategoricalDtype)
    assert np.array_equal(df["frame"].to_numpy(), np.arange(1, 20001))


def test_randomised_headers_match_tshark(tmp_path, gen, frames, crosscheck):
    """scapy's fuzz(): random IHL, lengths, fragment offsets, next headers, ports."""
    import random

    from scapy.all import ICMP as ICMP4, RandIP, RandIP6, fuzz
    random.seed(20261125)
    pk = []
    for _ in range(300):
        if random.random() < 0.5:
            l3 = fuzz(IP(version=4, src=RandIP(), dst=RandIP()))
        else:
            l3 = IPv6(src=RandIP6(), dst=RandIP6(), nh=random.choice([0, 6, 17, 43, 44, 58, 60, 59]))
        l4 = random.choice([TCP, UDP, ICMP4, SCTP, None])
        pay = fuzz(l4()) if l4 else Raw(bytes(random.randrange(40)))
        pk.append(bytes(Ether(**MAC) / l3 / pay))
    path = tmp_path / "fuzzed.pcap"
    path.write_bytes(gen.pcap(frames(pk), nano=True))
    df = read_packets(path)
    crosscheck(path, df)
    assert df["fragment"].any() and (df["sport"] >= 0).any() and (df["ip_version"] == 6).any()


def test_headers_cut_by_snaplen_match_tshark(tmp_path, snaplen_cut, crosscheck):
    """Each field only when its bytes were captured, exactly as Wireshark shows it."""
    path = snaplen_cut(tmp_path / "cut.pcap", [bytes(p) for p in ether_packets()], 400, seed=7)
    df = read_packets(path)
    crosscheck(path, df)
    partial = df[(df["ip_version"] == 4) & (df["src"] != "") & (df["dst"] == "")]
    assert len(partial) > 0                     # some IPv4 headers cut between src and dst
