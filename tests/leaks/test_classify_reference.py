"""The vectorised classifier agrees with a plain per-row reading of the rules.

The reference below is written independently from DESIGN.md's rule list, one frame
at a time; hypothesis draws tables from a small pool of addresses, ports,
interfaces and directions so that every rule and their overlaps are exercised.
"""

import ipaddress

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from ksaudit.leaks.classify import DeviceAddresses, classify
from ksaudit.scenario import load_scenario
from ksaudit.schema import PACKET_COLUMNS

DEVICE = ("192.168.50.2", "fd00:50::2")
ADDRS4 = ["192.168.50.2", "192.168.50.1", "192.168.50.9", "198.51.100.2", "203.0.113.80",
          "224.0.0.251", "0.0.0.0", "255.255.255.255", "127.0.0.1", "10.64.0.2"]
ADDRS6 = ["fd00:50::2", "fe80::1", "2001:db8::80", "ff02::2", "2001:db8::2", "::1", "ff0e::1"]
LAN = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                         "169.254.0.0/16", "224.0.0.0/4", "255.255.255.255/32",
                                         "fc00::/7", "fe80::/10")]


def lan(a):
    ip = ipaddress.ip_address(a)
    if ip.version == 6 and ip.is_multicast:
        return (ip.packed[1] & 0x0F) <= 8
    return any(ip.version == n.version and ip in n for n in LAN)


def on_link(a, nets):
    """The on-link peers of ksaudit.leaks.upkeep, restated (no ARP frames in these tables)."""
    ip = ipaddress.ip_address(a)
    if ip.version == 6 and ip.is_multicast:
        return (ip.packed[1] & 0x0F) <= 2
    fixed = ("255.255.255.255/32", "169.254.0.0/16", "224.0.0.0/24", "fe80::/10")
    return any(ip.version == n.version and ip in n
               for n in [ipaddress.ip_network(x) for x in fixed] + list(nets))


def device_nets(rows, vantage):
    """/24 and /64 of the device addresses, unless an address is seen only inside wg0."""
    inside = {a for r in rows if vantage == "device" and r["iface"] == "wg0"
              for a in (r["src"], r["dst"])}
    outside = {a for r in rows if not (vantage == "device" and r["iface"] == "wg0")
               for a in (r["src"], r["dst"])}
    return [ipaddress.ip_network(f"{a}/{24 if '.' in a else 64}", strict=False)
            for a in DEVICE if not (a in inside and a not in outside)]


def reference(r, allow_lan, vantage, nets=()):
    dev_v = vantage == "device"
    if dev_v and r["direction"] == "out":
        frm = True
    elif dev_v and r["direction"] == "":
        frm = r["src"] in DEVICE or r["dst"] not in DEVICE
    elif dev_v:
        frm = False
    else:
        frm = r["src"] in DEVICE
    to = not frm and (dev_v or r["dst"] in DEVICE)
    loop = r["iface"] == "lo" or any(a in ("127.0.0.1", "::1") for a in (r["src"], r["dst"]))
    if dev_v and r["iface"] == "wg0":
        return "inside_tunnel"
    if loop or not (frm or to):
        return "not_device"
    far, far_port = (r["dst"], r["dport"]) if frm else (r["src"], r["sport"])
    if far in ("198.51.100.2", "2001:db8::2") and r["proto"] == 17 and far_port == 51820:
        return "tunnel_transport"
    group = ipaddress.ip_address(r["dst"]).is_multicast or r["dst"] == "255.255.255.255"
    peer = on_link(r["dst"], nets) if frm else (on_link(r["src"], nets) or group)
    if r["proto"] == 17 and {r["sport"], r["dport"]} <= {67, 68} and "." in r["dst"] and peer:
        return "link_upkeep"
    dns = r["proto"] in (6, 17) and (r["dport"] if frm else r["sport"]) in (53, 853)
    if allow_lan and lan(far) and not dns:
        return "lan_allowed"
    if frm:
        return "leak"
    return "leak_reply" if dns else None        # reply matching is checked separately


ROW = st.fixed_dictionaries({
    "v6": st.booleans(), "i": st.integers(0, 20), "j": st.integers(0, 20),
    "iface": st.sampled_from(["wlan0", "wg0", "lo", "eth1"]),
    "direction": st.sampled_from(["out", "in", ""]),
    "proto": st.sampled_from([17, 6]),
    "sport": st.sampled_from([40000, 51820, 53, 68, 67]),
    "dport": st.sampled_from([33434, 51820, 53, 853, 67, 68]),
})


def build(rows):
    data = []
    for k, r in enumerate(rows):
        pool = ADDRS6 if r["v6"] else ADDRS4
        data.append({"frame": k + 1, "ts_ns": k, "iface": r["iface"], "direction": r["direction"],
                     "ip_version": 6 if r["v6"] else 4, "src": pool[r["i"] % len(pool)],
                     "dst": pool[r["j"] % len(pool)], "proto": r["proto"], "sport": r["sport"],
                     "dport": r["dport"], "length": 80, "caplen": 80, "tcp_flags": -1,
                     "icmp_type": -1, "icmp_code": -1, "ethertype": 0x86DD if r["v6"] else 0x0800,
                     "vlan": -1, "arp": False, "fragment": False, "probe_seq": -1,
                     "probe_send_ns": -1, "ppp_proto": -1,
                     "payload_len": -1, "payload_head": -1})
    df = pd.DataFrame(data).astype(PACKET_COLUMNS)
    df["capture"] = pd.Series([0] * len(df), dtype="int16")
    return df


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory):
    out = {}
    for allow_lan in (False, True):
        d = tmp_path_factory.mktemp(f"lan{allow_lan}")
        (d / "scenario.yaml").write_text(yaml.safe_dump({
            "build": "t", "vpn": {"endpoints": ["198.51.100.2:51820/udp", "[2001:db8::2]:51820/udp"]},
            "policy": {"allow_lan": allow_lan}, "captures": [{"file": "d.pcap"}]}))
        out[allow_lan] = load_scenario(d)
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ROW, min_size=1, max_size=40), st.booleans(), st.sampled_from(["device", "external"]))
def test_vectorised_rules_match_the_reference(scenarios, rows, allow_lan, vantage):
    df = build(rows)
    rule, _ = classify(df, scenarios[allow_lan], [vantage], DeviceAddresses(DEVICE, True, ""))
    got = [str(x) for x in rule]
    nets = device_nets(df.astype({"src": str, "dst": str, "iface": str}).to_dict("records"),
                       vantage)
    leaks = {(r.src, r.dst, r.proto, r.sport, r.dport)
             for r, g in zip(df.astype({"src": str, "dst": str}).itertuples(), got) if g == "leak"}
    for r, g in zip(df.astype({"src": str, "dst": str, "iface": str,
                               "direction": str}).to_dict("records"), got):
        want = reference(r, allow_lan, vantage, nets)
        if want is None:     # received, not allowed: a reply to a leaked flow, or unsolicited
            key = (r["dst"], r["src"], r["proto"], r["dport"], r["sport"])
            want = "leak_reply" if key in leaks else "inbound"
        assert g == want, (r, g, want)
