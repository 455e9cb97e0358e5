"""False PASSes found by trying to break a PASS sample: each must now fail or stay open.

Every case starts from the lab's strong-process-kill sample (PASS), copied to
tmp_path, then adds one crafted frame on wlan0 during the episode (merged into
device.pcap in time order) or edits scenario.yaml.  The unmodified copy is checked
to PASS first, so each test can fail.
"""

import shutil
import struct
from pathlib import Path

import pytest
import yaml
from scapy.all import IP, UDP, ICMPv6ND_NS, IPv6, Raw
from scapy.contrib.igmp import IGMP
from scapy.contrib.mpls import MPLS
from scapy.layers.l2 import CookedLinuxV2
from scapy.layers.ppp import PPP, PPPoE

from ksaudit import analyze

SAMPLE = (Path(__file__).resolve().parents[2] / "captures" / "samples" / "2026.11.0-lab"
          / "strong-process-kill")
DEV4, SINK = "192.168.50.10", "203.0.113.80"
WLAN = 2                                  # device.ifindex of wlan0 in the sample
IN_EPISODE_NS = 1_795_594_194_800_000_123  # inside episode 1 (1795594194.3175 .. .3917)

pytestmark = pytest.mark.skipif(not SAMPLE.is_dir(), reason="lab sample build not bundled")


def insert_frame(path, ts_ns, data):
    """Merge one frame into a little-endian nanosecond pcap, keeping time order."""
    raw = path.read_bytes()
    assert struct.unpack_from("<I", raw)[0] == 0xA1B23C4D
    out, pos, done = [raw[:24]], 24, False
    record = struct.pack("<IIII", ts_ns // 10 ** 9, ts_ns % 10 ** 9, len(data), len(data)) + data
    while pos < len(raw):
        sec, nsec, incl, _ = struct.unpack_from("<IIII", raw, pos)
        if not done and sec * 10 ** 9 + nsec > ts_ns:
            out.append(record)
            done = True
        out.append(raw[pos:pos + 16 + incl])
        pos += 16 + incl
    if not done:
        out.append(record)
    path.write_bytes(b"".join(out))


def sll2(pkt, proto):
    return bytes(CookedLinuxV2(proto=proto, ifindex=WLAN, pkttype=4) / pkt)


def keep_frames(path, keep):
    """Rewrite a pcap with only the frames for which keep(data) is true."""
    raw = path.read_bytes()
    out, pos = [raw[:24]], 24
    while pos < len(raw):
        incl = struct.unpack_from("<I", raw, pos + 8)[0]
        if keep(raw[pos + 16:pos + 16 + incl]):
            out.append(raw[pos:pos + 16 + incl])
        pos += 16 + incl
    path.write_bytes(b"".join(out))


@pytest.fixture
def sample(tmp_path):
    """A fresh copy of the sample directory."""
    d = tmp_path / "scn"
    shutil.copytree(SAMPLE, d)
    return d


def edit(d, fn):
    """Rewrite d/scenario.yaml through fn(spec)."""
    spec = yaml.safe_load((d / "scenario.yaml").read_text())
    fn(spec)
    (d / "scenario.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def verdict(d):
    a = analyze(d, deep=False)
    return a, a.verdict.status, {r.code for r in a.verdict.reasons}


def test_unmodified_copy_passes(sample):
    a, status, codes = verdict(sample)
    assert status == "PASS" and not codes


PAYLOAD = Raw(b"KSAPROBE-LIKE secret payload " * 2)
LEAK_FRAMES = {
    "ipv4 in pppoe session": (sll2(PPPoE(sessionid=3) / PPP(proto=0x0021)
                                   / IP(src=DEV4, dst=SINK) / UDP(sport=40000, dport=33434)
                                   / PAYLOAD, 0x8864), SINK, "ipv4"),
    "ipv6 in pppoe session": (sll2(PPPoE(sessionid=3) / PPP(proto=0x0057)
                                   / IPv6(src="2001:db8:50::10", dst="2001:db8::80")
                                   / UDP(sport=40000, dport=33434) / PAYLOAD, 0x8864),
                              "2001:db8::80", "ipv6"),
    "ipv4 in mpls": (sll2(MPLS(label=1000, s=1) / IP(src=DEV4, dst=SINK)
                          / UDP(sport=40000, dport=33434) / PAYLOAD, 0x8847), SINK, "ipv4"),
    "unknown ethertype": (sll2(Raw(bytes(IP(src=DEV4, dst=SINK) / UDP() / PAYLOAD)), 0x88B5),
                          "", "other"),
    "ppp protocol not decoded": (sll2(PPPoE(sessionid=3) / PPP(proto=0x0281) / PAYLOAD, 0x8864),
                                 "", "other"),
    "dhcp ports to an internet host": (sll2(IP(src=DEV4, dst=SINK) / UDP(sport=68, dport=67)
                                            / PAYLOAD, 0x0800), SINK, "ipv4"),
    "neighbour solicitation to a global address": (
        sll2(IPv6(src="fe80::1", dst="2001:db8::80") / ICMPv6ND_NS(tgt="2001:db8::80")
             / PAYLOAD, 0x86DD), "2001:db8::80", "ipv6"),
    "igmp to a unicast internet host": (sll2(IP(src=DEV4, dst=SINK, proto=2) / IGMP(type=0x16)
                                             / PAYLOAD, 0x0800), SINK, "ipv4"),
}


@pytest.mark.parametrize("name", list(LEAK_FRAMES))
def test_one_crafted_frame_on_wlan0_fails(sample, name):
    data, dst, category = LEAK_FRAMES[name]
    insert_frame(sample / "device.pcap", IN_EPISODE_NS, data)
    a, status, codes = verdict(sample)
    assert status == "FAIL" and "leak" in codes, (name, a.verdict.reasons)
    assert len(a.leaks) == 1
    row = a.leaks.iloc[0]
    assert (str(row["iface"]), str(row["dst"]), str(row["category"]), int(row["episode"])) == \
        ("wlan0", dst, category, 1)


UPKEEP_FRAMES = {
    "dhcp renewal to the lan's server": sll2(IP(src=DEV4, dst="192.168.50.1")
                                             / UDP(sport=68, dport=67) / Raw(b"\x01" * 240),
                                             0x0800),
    "dhcp discover broadcast": sll2(IP(src="0.0.0.0", dst="255.255.255.255")
                                    / UDP(sport=68, dport=67) / Raw(b"\x01" * 240), 0x0800),
    "neighbour solicitation, solicited-node multicast": sll2(
        IPv6(src="fe80::1", dst="ff02::1:ff00:1") / ICMPv6ND_NS(tgt="fe80::2"), 0x86DD),
    "igmp report to its group": sll2(IP(src=DEV4, dst="239.1.2.3", proto=2)
                                     / IGMP(type=0x16, gaddr="239.1.2.3"), 0x0800),
    "pppoe lcp echo": sll2(PPPoE(sessionid=3) / PPP(proto=0xC021) / Raw(b"\x09\x01\x00\x08abcd"),
                           0x8864),
    "eapol key frame": sll2(Raw(b"\x02\x03\x00\x5f" + b"\0" * 95), 0x888E),
}


@pytest.mark.parametrize("name", list(UPKEEP_FRAMES))
def test_link_upkeep_on_the_link_still_passes(sample, name):
    insert_frame(sample / "device.pcap", IN_EPISODE_NS, UPKEEP_FRAMES[name])
    a, status, codes = verdict(sample)
    assert status == "PASS", (name, a.verdict.reasons)
    assert a.classification["link_upkeep"] == 14          # the sample's 13, and this one


def _external_only(spec):
    spec["captures"] = [c for c in spec["captures"] if c["vantage"] == "external"]


def test_device_address_typo_with_external_vantage_only(sample):
    edit(sample, _external_only)
    assert verdict(sample)[1] == "PASS"                      # baseline: right addresses
    edit(sample, lambda s: s["device"].update(addresses=["192.168.50.100"]))
    a, status, codes = verdict(sample)
    assert status == "INCONCLUSIVE" and codes == {"device_addresses_unknown"}, a.verdict.reasons
    assert "192.168.50.100" in next(r.message for r in a.verdict.reasons)


def _device_only(spec):
    spec["captures"] = [c for c in spec["captures"] if c["vantage"] == "device"]


def test_wlan0_declared_as_tunnel_without_external_capture(sample):
    edit(sample, _device_only)
    assert verdict(sample)[1] == "PASS"
    edit(sample, lambda s: s["device"].update(tunnel_interfaces=["wgkscce583a", "wlan0"],
                                             physical_interfaces=[]))
    a, status, codes = verdict(sample)
    assert status == "INCONCLUSIVE" and codes == {"declarations_contradicted"}, a.verdict.reasons
    assert "wlan0" in next(r.message for r in a.verdict.reasons)


@pytest.mark.parametrize("keep_external", [False, True])
def test_ifindex_remapped_so_the_physical_interface_looks_like_the_tunnel(sample, keep_external):
    if not keep_external:
        edit(sample, _device_only)
    assert verdict(sample)[1] == "PASS"
    edit(sample, lambda s: s["device"].update(
        ifindex={1: "lo", 2: "wgkscce583a", 3: "wgkscce583a", 4: "wgkscce583a"}))
    a, status, codes = verdict(sample)
    assert status == "INCONCLUSIVE" and codes == {"declarations_contradicted"}, a.verdict.reasons


def test_tunnel_only_capture_shows_no_transport(sample):
    """A device capture of the tunnel interface alone: leaks on wlan0 would be unseen."""
    edit(sample, _device_only)
    keep_frames(sample / "device.pcap", lambda data: struct.unpack_from(">I", data, 4)[0] != WLAN)
    a, status, codes = verdict(sample)
    assert status == "INCONCLUSIVE" and codes == {"declarations_contradicted"}, a.verdict.reasons
    assert "outside it" in next(r.message for r in a.verdict.reasons)


def test_allow_rule_and_endpoint_notes(sample):
    insert_frame(sample / "device.pcap", IN_EPISODE_NS,
                 sll2(IP(src=DEV4, dst="203.0.113.99") / UDP(sport=40000, dport=5353)
                      / PAYLOAD, 0x0800))
    assert verdict(sample)[1] == "FAIL"                      # without the rule: a leak
    edit(sample, lambda s: s["policy"].update(allow=["udp/5353"]))
    a, status, _ = verdict(sample)
    assert status == "PASS"
    notes = a.to_dict()["notes"]
    assert any("policy.allow 'udp/5353' allowed 1 frame(s)" in n for n in notes), notes
    transport = [n for n in notes if n.startswith("vpn.endpoints '198.51.100.2:51820/udp'")]
    assert len(transport) == 1 and " allowed " in transport[0]
    sent = int(transport[0].split(" allowed ")[1].split()[0])
    from_dev = a.packets[(a.packets["rule"].astype(str) == "tunnel_transport")
                         & (a.packets["dst"].astype(str) == "198.51.100.2")]
    assert sent == len(from_dev) > 0


def test_missing_drop_counter_is_a_note(sample):
    assert not any("no drop counter" in n for n in verdict(sample)[0].notes)
    edit(sample, lambda s: [c.pop("dropped") for c in s["captures"]])
    a, status, _ = verdict(sample)
    assert status == "PASS"
    notes = [n for n in a.to_dict()["notes"] if "no drop counter" in n]
    assert [n.split(":")[0] for n in notes] == ["device.pcap", "external.pcap"]
