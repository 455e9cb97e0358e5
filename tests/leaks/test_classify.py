"""Frame classification rules on small packet tables (schema dtypes, built by code)."""

import pandas as pd
import pytest
import yaml

from ksaudit.leaks.classify import DeviceAddresses, classify, infer_device_addresses, is_lan
from ksaudit.leaks.classify import device_vantage_mask
from ksaudit.scenario import load_scenario
from ksaudit.schema import PACKET_COLUMNS

DEV = DeviceAddresses(("10.64.0.2", "192.168.50.2", "fd00:50::2"), True, "declared")


def table(rows, capture=0):
    base = {"frame": 0, "ts_ns": 0, "iface": "wlan0", "direction": "out", "ip_version": 4,
            "src": "192.168.50.2", "dst": "203.0.113.80", "proto": 17, "sport": 40000,
            "dport": 33434, "length": 80, "caplen": 80, "tcp_flags": -1, "icmp_type": -1,
            "icmp_code": -1, "ethertype": 0x0800, "vlan": -1, "arp": False, "fragment": False,
            "probe_seq": -1, "probe_send_ns": -1, "ppp_proto": -1, "payload_len": -1, "payload_head": -1}
    data = [{**base, "frame": i + 1, "ts_ns": i, **r} for i, r in enumerate(rows)]
    df = pd.DataFrame(data).astype(PACKET_COLUMNS)
    df["capture"] = pd.Series([capture] * len(df), dtype="int16")
    return df


@pytest.fixture
def scenario(tmp_path):
    def make(**policy):
        (tmp_path / "scenario.yaml").write_text(yaml.safe_dump({
            "build": "t", "vpn": {"endpoints": ["198.51.100.2:51820/udp", "[2001:db8::2]:51820/udp"]},
            "policy": policy, "captures": [{"file": "d.pcap"}]}))
        return load_scenario(tmp_path)
    return make


def rules_of(df, sc, vantages=("device",), device=DEV):
    rule, cat = classify(df, sc, list(vantages), device)
    return [str(r) for r in rule], [str(c) for c in cat]


CASES = [
    ({"iface": "wg0", "src": "10.64.0.2"}, "inside_tunnel"),
    ({"iface": "lo", "src": "127.0.0.1", "dst": "127.0.0.1"}, "not_device"),
    ({"dst": "198.51.100.2", "dport": 51820}, "tunnel_transport"),
    ({"src": "198.51.100.2", "dst": "192.168.50.2", "sport": 51820, "dport": 51000,
      "direction": "in"}, "tunnel_transport"),
    ({"dst": "198.51.100.2", "sport": -1, "dport": -1, "fragment": True}, "tunnel_transport"),
    ({"dst": "198.51.100.2", "proto": 1, "sport": -1, "dport": -1, "icmp_type": 3,
      "icmp_code": 3}, "tunnel_transport"),                          # port unreachable
    ({"dst": "198.51.100.2", "proto": 1, "sport": -1, "dport": -1, "icmp_type": 8}, "leak"),
    ({"dst": "198.51.100.2", "dport": 51821}, "leak"),               # wrong port
    ({"dst": "198.51.100.2", "dport": 51820, "proto": 6}, "leak"),   # wrong protocol
    ({"ip_version": 6, "src": "fd00:50::2", "dst": "2001:db8::2", "dport": 51820}, "tunnel_transport"),
    ({"arp": True, "ip_version": 0, "proto": -1, "ethertype": 0x0806, "sport": -1, "dport": -1},
     "link_upkeep"),
    ({"src": "0.0.0.0", "dst": "255.255.255.255", "sport": 68, "dport": 67}, "link_upkeep"),
    ({"ip_version": 6, "src": "fe80::2", "dst": "ff02::2", "proto": 58, "sport": -1,
      "dport": -1, "icmp_type": 133}, "link_upkeep"),
    ({"ip_version": 6, "src": "fe80::2", "dst": "ff02::16", "proto": 58, "sport": -1,
      "dport": -1, "icmp_type": 143}, "link_upkeep"),
    ({"dst": "224.0.0.22", "proto": 2, "sport": -1, "dport": -1}, "link_upkeep"),
    ({"ip_version": 0, "proto": -1, "ethertype": 0x88CC, "sport": -1, "dport": -1}, "link_upkeep"),
    # an undecodable frame outside the tunnel fails closed
    ({"ip_version": 0, "proto": -1, "ethertype": -1, "sport": -1, "dport": -1, "src": "",
      "dst": ""}, "leak"),
    ({"dst": "192.168.50.10", "proto": 6, "dport": 631}, "leak"),     # LAN without allow_lan
    ({"ip_version": 6, "src": "fd00:50::2", "dst": "2001:db8:113::80"}, "leak"),
    ({"ip_version": 6, "src": "fd00:50::2", "dst": "ff0e::1"}, "leak"),  # global multicast
]


@pytest.mark.parametrize("row, expected", CASES)
def test_rules_without_allow_lan(scenario, row, expected):
    rule, _ = rules_of(table([row]), scenario())
    assert rule == [expected]


@pytest.mark.parametrize("row, expected", [
    ({"dst": "192.168.50.10", "proto": 6, "dport": 631}, "lan_allowed"),
    ({"dst": "224.0.0.251", "sport": 5353, "dport": 5353}, "lan_allowed"),
    ({"ip_version": 6, "src": "fe80::2", "dst": "fe80::1"}, "lan_allowed"),
    ({"ip_version": 6, "src": "fd00:50::2", "dst": "ff02::fb"}, "lan_allowed"),
    ({"dst": "192.168.50.1", "dport": 53}, "leak"),                  # DNS to a LAN resolver
    ({"dst": "192.168.50.1", "proto": 6, "dport": 853}, "leak"),     # DoT to a LAN resolver
    ({"src": "192.168.50.1", "dst": "192.168.50.2", "sport": 53, "dport": 40000,
      "direction": "in"}, "leak_reply"),
    ({"ip_version": 6, "src": "fd00:50::2", "dst": "2001:db8:113::80"}, "leak"),
    ({"dst": "203.0.113.80"}, "leak"),
])
def test_rules_with_allow_lan(scenario, row, expected):
    rule, _ = rules_of(table([row]), scenario(allow_lan=True))
    assert rule == [expected]


def test_allow_rules(scenario):
    sc = scenario(allow=["udp/5353", "203.0.113.53/32", "icmp", "[2001:db8::53]:53/udp"])
    df = table([{"dst": "224.0.0.251", "sport": 5353, "dport": 5353},
                {"dst": "203.0.113.53", "proto": 6, "dport": 443},
                {"proto": 1, "sport": -1, "dport": -1, "icmp_type": 8},
                {"ip_version": 6, "src": "fd00:50::2", "dst": "2001:db8::53", "dport": 53},
                {"ip_version": 6, "src": "fd00:50::2", "dst": "2001:db8::53", "dport": 54}])
    assert rules_of(df, sc)[0] == ["scenario_rule"] * 4 + ["leak"]


def test_categories(scenario):
    df = table([{"dst": "203.0.113.80"}, {"ip_version": 6, "src": "fd00:50::2", "dst": "2001:db8::9"},
                {"dst": "203.0.113.53", "dport": 53}, {"dst": "203.0.113.53", "proto": 6, "dport": 853},
                {"ip_version": 0, "proto": -1, "ethertype": -1, "sport": -1, "dport": -1},
                {"iface": "wg0", "src": "10.64.0.2"}])
    assert rules_of(df, scenario())[1] == ["ipv4", "ipv6", "dns", "dns", "other", ""]


def test_replies_and_unsolicited_inbound(scenario):
    df = table([{"proto": 6, "sport": 50001, "dport": 443},
                {"proto": 6, "src": "203.0.113.80", "dst": "192.168.50.2", "sport": 443,
                 "dport": 50001, "direction": "in"},
                {"proto": 6, "src": "203.0.113.80", "dst": "192.168.50.2", "sport": 443,
                 "dport": 50002, "direction": "in"}])
    assert rules_of(df, scenario())[0] == ["leak", "leak_reply", "inbound"]


def test_unknown_direction_fails_closed_at_a_device_vantage(scenario):
    # direction unknown (plain Ethernet pcap): anything not addressed to the device is sent by it
    df = table([{"direction": "", "src": "192.168.50.77", "dst": "203.0.113.80"},
                {"direction": "", "src": "203.0.113.80", "dst": "192.168.50.2"}])
    assert rules_of(df, scenario())[0] == ["leak", "inbound"]


def test_external_vantage_attributes_by_address(scenario):
    df = table([{"direction": "", "src": "192.168.50.2"},
                {"direction": "", "src": "192.168.50.77"},           # another LAN host
                {"direction": "", "iface": "wg0", "src": "192.168.50.2"}])  # no tunnel there
    assert rules_of(df, scenario(), vantages=("external",))[0] == ["leak", "not_device", "leak"]


def test_inference_of_device_addresses(scenario):
    sc = scenario()
    df = pd.concat([table([{"iface": "wg0", "src": "10.64.0.2"},
                           {"src": "0.0.0.0", "dst": "255.255.255.255", "sport": 68, "dport": 67},
                           {"src": "192.168.50.2", "dst": "198.51.100.2", "dport": 51820}]),
                    table([{"direction": "", "src": "192.168.50.9", "dst": "198.51.100.2",
                            "dport": 51820}], capture=1)], ignore_index=True)
    for col in ("iface", "direction", "src", "dst"):
        df[col] = df[col].astype(str).astype("category")
    dev = infer_device_addresses(df, sc, device_vantage_mask(df, ["device", "external"]))
    assert dev.addresses == ("10.64.0.2", "192.168.50.2", "192.168.50.9")
    assert not dev.declared and "inferred" in dev.statement


@pytest.mark.parametrize("addr, lan", [("10.1.2.3", True), ("172.31.0.1", True), ("172.32.0.1", False),
                                       ("192.168.1.1", True), ("169.254.3.4", True),
                                       ("203.0.113.5", False), ("198.51.100.2", False),
                                       ("fd12::1", True), ("fe80::1", True), ("2001:db8::1", False),
                                       ("ff02::1", True), ("ff0e::1", False), ("", False)])
def test_is_lan(addr, lan):
    assert is_lan(addr) is lan


def test_declared_addresses_are_completed_by_device_senders(scenario, tmp_path):
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump({
        "build": "t", "vpn": {"endpoints": ["198.51.100.2:51820/udp"]},
        "device": {"addresses": ["192.168.50.10"]}, "captures": [{"file": "d.pcap"}]}))
    sc = load_scenario(tmp_path)
    df = pd.concat([table([{"src": "192.168.50.11"}]),                 # new address after a change
                    table([{"direction": "", "src": "192.168.50.11"}], capture=1)],
                   ignore_index=True)
    for col in ("iface", "direction", "src", "dst"):
        df[col] = df[col].astype(str).astype("category")
    dev = infer_device_addresses(df, sc, device_vantage_mask(df, ["device", "external"]))
    assert dev.addresses == ("192.168.50.10", "192.168.50.11") and dev.declared
    assert "also seen sending" in dev.statement
    rule, _ = classify(df, sc, ["device", "external"], dev)
    assert [str(r) for r in rule] == ["leak", "leak"]        # seen at the external vantage too


NON_IP = {"ip_version": 0, "proto": -1, "sport": -1, "dport": -1, "src": "", "dst": ""}
ICMP6 = {"ip_version": 6, "src": "fe80::2", "proto": 58, "sport": -1, "dport": -1}


@pytest.mark.parametrize("row, expected", [
    # link control by a listed ethertype; anything else not IP fails closed
    ({**NON_IP, "ethertype": 0x888E}, "link_upkeep"),                     # EAPOL
    ({**NON_IP, "ethertype": 0x8863}, "link_upkeep"),                     # PPPoE discovery
    ({**NON_IP, "ethertype": 0x8864, "ppp_proto": 0xC021}, "link_upkeep"),  # LCP echo
    ({**NON_IP, "ethertype": 0x8864, "ppp_proto": 0x0281}, "leak"),       # MPLS in PPP: undecoded
    ({**NON_IP, "ethertype": 0x8847}, "leak"),                            # MPLS, no IP inside
    ({**NON_IP, "ethertype": 0x88B5}, "leak"),                            # unknown ethertype
    ({**NON_IP, "ethertype": 0x0800}, "leak"),                            # bogus IPv4 header
    # DHCPv4: broadcast, the device's private /24, or an ARP-resolved address
    ({"sport": 68, "dport": 67, "dst": "255.255.255.255"}, "link_upkeep"),
    ({"sport": 68, "dport": 67, "dst": "192.168.50.1"}, "link_upkeep"),   # renewal to the server
    ({"sport": 68, "dport": 67, "dst": "203.0.113.80"}, "leak"),          # to an internet host
    ({"sport": 68, "dport": 67, "dst": "192.168.51.1"}, "leak"),          # another private net
    ({"sport": 67, "dport": 68, "src": "203.0.113.80", "dst": "192.168.50.2",
      "direction": "in"}, "inbound"),                                     # not upkeep either
    # DHCPv6: link-local or site-scope multicast, or the LAN /64
    ({"ip_version": 6, "src": "fe80::2", "dst": "ff02::1:2", "sport": 546, "dport": 547},
     "link_upkeep"),
    ({"ip_version": 6, "src": "fd00:50::2", "dst": "ff05::1:3", "sport": 546, "dport": 547},
     "link_upkeep"),
    ({"ip_version": 6, "src": "fd00:50::2", "dst": "fd00:50::1", "sport": 546, "dport": 547},
     "link_upkeep"),
    ({"ip_version": 6, "src": "fd00:50::2", "dst": "2001:db8::547", "sport": 546, "dport": 547},
     "leak"),
    # ICMPv6 ND: link-local, link-scope multicast, the LAN /64; MLD: any multicast
    ({**ICMP6, "dst": "ff02::1:ff00:1", "icmp_type": 135}, "link_upkeep"),
    ({**ICMP6, "dst": "fe80::1", "icmp_type": 135}, "link_upkeep"),
    ({**ICMP6, "src": "fd00:50::2", "dst": "fd00:50::1", "icmp_type": 135}, "link_upkeep"),
    ({**ICMP6, "dst": "2001:db8::80", "icmp_type": 135}, "leak"),         # global, off the link
    ({**ICMP6, "dst": "ff0e::1", "icmp_type": 135}, "leak"),              # global-scope group
    ({**ICMP6, "dst": "ff0e::1", "icmp_type": 131}, "link_upkeep"),       # MLDv1 report to its group
    ({**ICMP6, "dst": "2001:db8::80", "icmp_type": 143}, "leak"),         # MLD to a unicast host
    # IGMP: to a multicast group, never to a unicast host; IPv4 only
    ({"dst": "239.1.2.3", "proto": 2, "sport": -1, "dport": -1}, "link_upkeep"),
    ({"dst": "203.0.113.80", "proto": 2, "sport": -1, "dport": -1}, "leak"),
    ({"ip_version": 6, "src": "fd00:50::2", "dst": "ff02::16", "proto": 2, "sport": -1,
      "dport": -1}, "leak"),
])
def test_link_upkeep_needs_an_on_link_peer(scenario, row, expected):
    rule, _ = rules_of(table([row]), scenario())
    assert rule == [expected]


def test_on_link_prefixes_come_from_the_evidence(scenario):
    from ksaudit.leaks.upkeep import link_prefixes
    dhcp = {"sport": 68, "dport": 67, "dst": "203.0.113.1"}
    arp = {**NON_IP, "arp": True, "ethertype": 0x0806, "src": "192.168.50.2",
           "dst": "203.0.113.1"}
    # an ARP-resolved address is on the link, even a public one
    assert rules_of(table([arp, dhcp]), scenario())[0] == ["link_upkeep", "link_upkeep"]
    assert rules_of(table([dhcp]), scenario())[0] == ["leak"]
    # a device address seen only inside the tunnel gives no prefix; one on wlan0 does
    df = table([{"iface": "wg0", "src": "10.64.0.2"}])
    tunnel = df["iface"].astype(str).to_numpy() == "wg0"
    nets = [str(n) for n in link_prefixes(df, DEV, tunnel)]
    assert nets == ["192.168.50.0/24", "fd00:50::/64"]
    df = table([{"src": "10.64.0.2"}])
    assert "10.64.0.0/24" in [str(n) for n in link_prefixes(df, DEV, tunnel & False)]
    # so DHCP out of wlan0 to the tunnel's own network is not upkeep
    df = table([{"iface": "wg0", "src": "10.64.0.2"},
                {"sport": 68, "dport": 67, "dst": "10.64.0.1"}])
    assert rules_of(df, scenario())[0] == ["inside_tunnel", "leak"]
