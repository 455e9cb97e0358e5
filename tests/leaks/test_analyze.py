"""analyze() on small hand-built scenarios: verdicts, windows, categories, reasons."""

import hashlib
import json
import shutil
import struct

import numpy as np
import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.dns import DNS, DNSQR

from ksaudit import analyze
from leak_builder import DEV4, MS, T0, WG, WLAN, window


def _exact_window(a, ep):
    leaks = a.leaks[(a.leaks["episode"] == ep.id) & (a.leaks["rule"].astype(str) == "leak")]
    return int(leaks["ts_ns"].min()), int(leaks["ts_ns"].max())


# ---------------------------------------------------------------- weak kill switches

def test_app_level_leak_before_the_log_line_fails_with_exact_window(builder):
    # the client dies at 1000 ms, traffic leaks at once; the log line comes 30 ms later
    builder.probes_run(0, 3000, window(1000, 1600))
    builder.log(1030, "tunnel down dev wg0")
    builder.log(1600, "tunnel up dev wg0")
    a = analyze(builder.write())
    assert a.verdict.status == "FAIL"
    (ep,) = a.episodes
    assert ep.verdict == "FAIL" and ep.leaked_frames == 60
    first, last = _exact_window(a, ep)
    assert (ep.first_leak_ns, ep.last_leak_ns) == (first, last)
    assert first == T0 + 1000 * MS + 5_000 and last == T0 + 1590 * MS + 5_000
    assert ep.window_ns == last - first and ep.to_dict()["window_us"] == (last - first) // 1000
    assert ep.time_to_first_leak_ns == first - (T0 + 1030 * MS)      # negative: leak before log
    assert ep.probes["leaked"] == 60 and ep.probes["leaked_seqs"] == ["101-160"]
    assert a.steady_state["leaked_frames"] == 0
    assert a.exit_code == 1


def test_reconnect_gap_fails_with_the_gap_as_window(builder):
    # tunnel down at 1000; firewall released 1200-1300 while reconnecting; up at 1500
    state = lambda t: ("leak" if 1200 <= t < 1300 else "block") if 1000 <= t < 1500 else "up"
    builder.probes_run(0, 3000, state)
    builder.log(1000, "tunnel down dev wg0")
    builder.log(1200, "firewall released")
    builder.log(1300, "firewall engaged")
    builder.log(1500, "tunnel up dev wg0")
    a = analyze(builder.write())
    (ep,) = a.episodes
    assert ep.verdict == "FAIL"
    assert ep.first_leak_ns == T0 + 1200 * MS + 5_000 and ep.last_leak_ns == T0 + 1290 * MS + 5_000
    assert ep.probes["leaked"] == 10 and ep.probes["refused"] == 40
    assert any("firewall_release" in e for e in ep.during_evidence)


def test_fail_open_on_sleep_fails(builder):
    state = lambda t: "leak" if 1000 <= t < 2000 else "up"
    builder.probes_run(0, 3000, state)
    builder.log(990, "firewall released")
    builder.log(1000, "PM: suspend entry (deep)", ident="kernel")
    builder.log(1800, "PM: suspend exit", ident="kernel")
    builder.log(2000, "tunnel up dev wg0")
    builder.log(2010, "firewall engaged")
    a = analyze(builder.write())
    assert a.verdict.status == "FAIL"
    (ep,) = a.episodes
    assert ep.start_evidence[0].startswith("sleep ")
    assert ep.leaked_frames == 100


def test_strong_kill_switch_passes(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    a = analyze(builder.write())
    assert a.verdict.status == "PASS", a.verdict.reasons
    (ep,) = a.episodes
    assert ep.leaked_frames == 0 and ep.first_leak_ns is None and ep.window_ns is None
    assert ep.probes["attempted"] >= 50 and ep.probes["blocked"] >= 50
    assert a.classification["leak"] == 0 and a.classification["inside_tunnel"] > 0
    assert a.exit_code == 0


def test_ipv6_only_leak(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.probes_run(1000, 1500, lambda t: "leak", v6=True, first_seq=10_000)
    builder.down_up(1000, 1500)
    a = analyze(builder.write())
    assert a.verdict.status == "FAIL"
    (ep,) = a.episodes
    assert ep.categories == {"ipv4": 0, "ipv6": 50, "dns": 0, "other": 0}
    assert ep.destinations == ("2001:db8::80",)


def _dns(t_ns, server="192.168.50.1", name="secret.example."):
    return IP(src=DEV4, dst=server) / UDP(sport=53000, dport=53) / DNS(rd=1, qd=DNSQR(qname=name))


def test_dns_to_lan_resolver_is_a_leak_even_with_allow_lan(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    builder.frame(T0 + 1200 * MS, _dns(T0))
    answer = IP(src="192.168.50.1", dst=DEV4) / UDP(sport=53, dport=53000) / DNS(
        qr=1, qd=DNSQR(qname="secret.example."))
    builder.frame(T0 + 1201 * MS, answer, out=False)
    a = analyze(builder.write(**{"policy.allow_lan": True}))
    assert a.verdict.status == "FAIL"
    (ep,) = a.episodes
    assert ep.leaked_frames == 1 and ep.categories["dns"] == 1 and ep.reply_frames == 1
    assert ep.evidence[0]["dns_query"].rstrip(".") == "secret.example"
    assert set(a.leaks["rule"].astype(str)) == {"leak", "leak_reply"}


def test_lan_traffic_passes_with_allow_lan_and_fails_without(builder, tmp_path):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    for k in range(5):   # a LAN printer, an mDNS announcement, a link-local peer
        builder.frame(T0 + (1100 + k) * MS, IP(src=DEV4, dst="192.168.50.10") /
                      TCP(sport=50000, dport=631, flags="S"))
    builder.udp(T0 + 1200 * MS, DEV4, "224.0.0.251", 5353, 5353)
    builder.udp(T0 + 1210 * MS, "fe80::2", "fe80::1", 5000, 6000)
    root = builder.write(**{"policy.allow_lan": True})
    a = analyze(root)
    assert a.verdict.status == "PASS", a.verdict.reasons
    assert a.classification["lan_allowed"] == 7
    builder.root = tmp_path / "strict"
    b = analyze(builder.write())
    assert b.verdict.status == "FAIL" and b.episodes[0].leaked_frames == 7


def test_scenario_allow_rule(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    builder.udp(T0 + 1100 * MS, DEV4, "203.0.113.53", 40001, 123)
    a = analyze(builder.write(**{"policy.allow": ["203.0.113.53:123/udp"]}))
    assert a.verdict.status == "PASS" and a.classification["scenario_rule"] == 1


def test_steady_state_leak_fails(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    builder.udp(T0 + 2500 * MS, DEV4, "203.0.113.99", 41000, 443)
    a = analyze(builder.write())
    assert a.verdict.status == "FAIL"
    assert a.episodes[0].verdict == "PASS"
    assert a.steady_state["leaked_frames"] == 1
    assert a.steady_state["destinations"] == ["203.0.113.99"]
    assert [r.code for r in a.verdict.reasons] == ["steady_state_leak"]


def test_several_episodes_only_one_leaks(builder):
    state = lambda t: ("leak" if 2000 <= t < 2300 else
                       "block" if (500 <= t < 800 or 2000 <= t < 2300 or 3500 <= t < 3800)
                       else "up")
    builder.probes_run(0, 4500, state)
    for d in (500, 2000, 3500):
        builder.down_up(d, d + 300)
    a = analyze(builder.write())
    assert [e.verdict for e in a.episodes] == ["PASS", "FAIL", "PASS"]
    assert a.verdict.status == "FAIL" and a.episodes[1].leaked_frames == 30
    assert [r.episode for r in a.verdict.reasons] == [2]


def test_reply_to_a_leak_is_classified(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    builder.frame(T0 + 1100 * MS, IP(src=DEV4, dst="203.0.113.7") / TCP(sport=50001, dport=443, flags="S"))
    builder.frame(T0 + 1110 * MS, IP(src="203.0.113.7", dst=DEV4) / TCP(sport=443, dport=50001, flags="SA"),
                  out=False)
    builder.frame(T0 + 1120 * MS, IP(src="203.0.113.8", dst=DEV4) / TCP(sport=443, dport=50009, flags="S"),
                  out=False)
    a = analyze(builder.write())
    assert a.classification["leak"] == 1 and a.classification["leak_reply"] == 1
    assert a.classification["inbound"] == 1
    assert a.episodes[0].reply_frames == 1


# ---------------------------------------------------------------- two vantage points

def test_external_vantage_counts_without_double_counting(builder):
    builder.probes_run(0, 3000, window(1000, 1200))
    builder.down_up(1000, 1200)
    wlan = [(ts, p) for ts, p in builder.frames if p.ifindex == 2]
    builder.write()
    ext = [(ts + 40_000, p) for ts, p in wlan]
    builder.write(pcap="router.pcap", frames=ext)
    both = {"captures": [{"file": "device.pcap"},
                         {"file": "router.pcap", "vantage": "external"}]}
    a = analyze(builder.write(**both))
    (ep,) = a.episodes
    assert ep.leaked_frames == 20 and len(ep.by_capture) == 2
    # a leak seen only at the external vantage point still counts
    ext_only = ext + [(T0 + 1150 * MS, wlan[0][1].copy())]
    ext_only[-1][1].payload.dst = "203.0.113.66"
    builder.write(pcap="router.pcap", frames=ext_only)
    b = analyze(builder.write(**both))
    assert b.episodes[0].leaked_frames == 21
    assert "203.0.113.66" in b.episodes[0].destinations


# ---------------------------------------------------------------- fail closed

def _truncate_in_episode(path, cut_ns):
    """Cut a ns pcap in the middle of the first record at or after `cut_ns`."""
    data = path.read_bytes()
    pos = 24
    while pos + 16 <= len(data):
        sec, nsec, incl, _ = struct.unpack_from("<IIII", data, pos)
        if sec * 10 ** 9 + nsec >= cut_ns:
            path.write_bytes(data[:pos + 16 + incl // 2])
            return
        pos += 16 + incl
    raise AssertionError("cut point not found")


def _silent(builder):
    builder.probes_run(0, 1000, lambda t: "up")
    builder.probes_run(1500, 3000, lambda t: "up", first_seq=500)


REASONS = {
    "capture_gap": lambda b: b.write(frames=[f for f in b.frames if f[0] > T0 + 1200 * MS]),
    "dropped_packets": lambda b: b.write(captures=[{"file": "device.pcap", "dropped": 3}]),
    "truncated_capture": lambda b: _truncate_in_episode(b.write() / "device.pcap", T0 + 1250 * MS),
    "no_tunnel_down": lambda b: (b.journal.clear(), b.write()),
    # a declared clock uncertainty is weighed against the tolerance like a fitted one
    "clock_uncertainty": lambda b: b.write(
        logs=[{"file": "logs/journal.json", "clock": "phone"}, {"file": "logs/probes.jsonl"}],
        clocks={"phone": {"offset_ns": 0, "uncertainty_ns": 5_000_000}}),
    "log_missing": lambda b: b.write(logs=[{"file": "logs/journal.json"},
                                           {"file": "logs/probes.jsonl"},
                                           {"file": "logs/openvpn.log", "format": "openvpn"}]),
}


@pytest.mark.parametrize("leak", [False, True], ids=["quiet", "leaking"])
@pytest.mark.parametrize("code", sorted(REASONS) + ["no_traffic_attempted"])
def test_every_inconclusive_reason_triggers_and_never_passes(builder, code, leak):
    if code == "no_traffic_attempted":
        _silent(builder)
    else:
        builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    if leak:
        at_ms = 1100 if code == "truncated_capture" else 1300    # inside what was captured
        builder.udp(T0 + at_ms * MS, DEV4, "203.0.113.99", 41000, 443)
    if code == "no_traffic_attempted":
        root = builder.write()
    else:
        REASONS[code](builder)
        root = builder.root
    a = analyze(root)
    codes = {r.code for r in a.verdict.reasons}
    # a leak proves that traffic was attempted: only that reason goes away
    assert (code in codes) != (leak and code == "no_traffic_attempted"), a.verdict.reasons
    assert a.verdict.status == ("FAIL" if leak else "INCONCLUSIVE")
    assert a.exit_code == (1 if leak else 3)


def test_missing_capture_is_inconclusive_not_pass(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    root = builder.write(captures=[{"file": "device.pcap"}, {"file": "router.pcap",
                                                             "vantage": "external"}])
    a = analyze(root)
    assert a.verdict.status == "INCONCLUSIVE"
    assert any("router.pcap is missing" in r.message for r in a.verdict.reasons)
    (root / "device.pcap").unlink()                       # nothing captured at all
    b = analyze(root)
    assert b.verdict.status == "INCONCLUSIVE" and len(b.packets) == 0
    json.dumps(b.to_dict())


# ---------------------------------------------------------------- the document

def test_to_dict_is_deterministic_and_hashes_inputs(builder, tmp_path):
    builder.probes_run(0, 3000, window(1000, 1200))
    builder.down_up(1000, 1200)
    root = builder.write()
    other = tmp_path / "copy" / root.name
    shutil.copytree(root, other)
    d1 = json.dumps(analyze(root).to_dict(), sort_keys=True)
    d2 = json.dumps(analyze(other).to_dict(), sort_keys=True)
    assert d1 == d2
    assert str(tmp_path) not in d1
    doc = json.loads(d1)
    for item in doc["inputs"]:
        assert item["sha256"] == hashlib.sha256((root / item["path"]).read_bytes()).hexdigest()
    assert {i["role"] for i in doc["inputs"]} == {"scenario", "capture", "log"}
    ep = doc["episodes"][0]
    for key in ("start_ns", "end_ns", "first_leak_ns", "last_leak_ns", "window_ns", "window_us",
                "time_to_first_leak_us", "leaked_frames", "leaked_bytes"):
        assert isinstance(ep[key], int), key
    assert sum(doc["classification"].values()) == doc["captures"][0]["packets"]


def test_classification_counts_cover_every_frame(builder):
    builder.probes_run(0, 2000, window(500, 700))
    builder.down_up(500, 700)
    a = analyze(builder.write())
    assert not a.packets["rule"].isna().any()
    assert sum(a.classification.values()) == len(a.packets)
    assert np.array_equal(a.packets["episode"].to_numpy() > 0,
                          (a.packets["ts_ns"] >= a.episodes[0].start_lo_ns).to_numpy()
                          & (a.packets["ts_ns"] <= a.episodes[0].end_hi_ns).to_numpy())


# ---------------------------------------------------------------- clocks and attribution

def test_second_capture_on_another_clock(builder):
    builder.probes_run(0, 2000, window(1000, 1200))
    builder.down_up(1000, 1200)
    wlan = [(ts, p) for ts, p in builder.frames if p.ifindex == 2]
    builder.write()
    offset = 3_700_000_000                       # the router's clock runs 3.7 s behind
    builder.write(pcap="router.pcap", frames=[(ts - offset + 40_000, p) for ts, p in wlan])
    caps = [{"file": "device.pcap"}, {"file": "router.pcap", "vantage": "external",
                                      "clock": "router"}]
    a = analyze(builder.write(captures=caps, clocks={"router": {"offset_ns": offset}}))
    (ep,) = a.episodes
    assert a.verdict.status == "FAIL" and ep.leaked_frames == 20
    ext = [b for b in ep.by_capture if b["capture"] == "router.pcap"][0]
    assert ext["first_leak_ns"] == T0 + 1000 * MS + 45_000          # on the reference clock
    # undeclared: estimated from the 20 leaked probes the router saw (send stamps)
    b = analyze(builder.write(captures=caps, clocks={}))
    assert b.verdict.status == "FAIL" and not {r.code for r in b.verdict.reasons} - {"leak"}
    ext = [x for x in b.episodes[0].by_capture if x["capture"] == "router.pcap"][0]
    assert ext["first_leak_ns"] == T0 + 1000 * MS    # the 45 us transit absorbed by the envelope
    assert any("placed on the reference clock" in n for n in b.notes)
    # no probe seen there: nothing to estimate from
    builder.write(pcap="router.pcap", frames=[(ts - offset, p) for ts, p in wlan
                                              if p.ifindex == 2 and b"KSAPROBE" not in bytes(p)])
    c = analyze(builder.write(captures=caps, clocks={}))
    assert "clock_uncertainty" in {r.code for r in c.verdict.reasons}


def test_external_capture_without_device_addresses_is_inconclusive(builder):
    builder.probes_run(0, 2000, lambda t: "block" if 1000 <= t < 1200 else "up")
    builder.down_up(1000, 1200)
    other = [(T0 + k * 100 * MS, IP(src="192.168.50.77", dst="203.0.113.5") / UDP(sport=1, dport=2))
             for k in range(20)]
    builder.write(pcap="router.pcap", frames=[(ts, builder.frames[0][1].__class__(
        proto=0x0800, ifindex=9, pkttype=0) / p) for ts, p in other])
    a = analyze(builder.write(captures=[{"file": "router.pcap", "vantage": "external"}]))
    assert a.verdict.status == "INCONCLUSIVE"
    assert "device_addresses_unknown" in {r.code for r in a.verdict.reasons}


def test_evidence_files_are_left_unchanged(builder):
    builder.probes_run(0, 2000, window(1000, 1200))
    builder.down_up(1000, 1200)
    root = builder.write()
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}
    analyze(root)
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}
    assert before == after


def test_log_on_a_clock_nothing_ties_to_the_reference(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    logs = [{"file": "logs/journal.json", "clock": "phone"}, {"file": "logs/probes.jsonl"}]
    a = analyze(builder.write(logs=logs))
    assert a.verdict.status == "INCONCLUSIVE"
    assert "clock_uncertainty" in {r.code for r in a.verdict.reasons}
    assert any("clock_uncertainty" == r.code for r in a.episodes[0].reasons)
    assert any(r.code == "clock_uncertainty" and "phone" in r.message
               for r in a.verdict.reasons), "the reason names the clock nothing ties down"
    json.dumps(a.to_dict())


def test_unnamed_interfaces_fail_closed_and_say_why(builder):
    builder.probes_run(0, 1000, lambda t: "up")
    builder.down_up(400, 600)
    spec = dict(builder.spec["device"], ifindex={})
    a = analyze(builder.write(device=spec))
    assert a.classification["inside_tunnel"] == 0 and a.verdict.status == "FAIL"
    assert any("have no name" in n for n in a.notes)


def test_networkmanager_lines_of_an_oddly_named_tunnel_are_tunnel_events(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    for t_ms, change in ((1000, "activated -> disconnected"), (1500, "connecting -> activated")):
        stamp_100us = (T0 + t_ms * MS) // 100_000
        builder.log(t_ms, f"<info>  [{stamp_100us // 10_000}.{stamp_100us % 10_000:04d}] device (acme0): "
                    f"state change: {change} (reason 'none', sys-iface-state: 'managed')",
                    ident="NetworkManager")
    a = analyze(builder.write(**{"device.tunnel_interfaces": ["acme0"],
                                 "device.ifindex": {WLAN: "wlan0", WG: "acme0"}}))
    kinds = a.events.loc[a.events["iface"] == "acme0", "kind"].astype(str).tolist()
    assert kinds == ["tunnel_down", "tunnel_up"]
    assert a.verdict.status == "PASS", a.verdict.reasons


# ---------------------------------------------------------------- review additions

def test_every_declared_capture_must_cover_the_episode(builder):
    # the device capture stops before the episode; the external one covers it: the
    # external vantage cannot vouch for what only the device sees (LAN DNS, other links)
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    wlan = [(ts, p) for ts, p in builder.frames if p.ifindex == WLAN]
    builder.write(pcap="router.pcap", frames=[(ts + 40_000, p) for ts, p in wlan])
    both = [{"file": "device.pcap"}, {"file": "router.pcap", "vantage": "external"}]
    a = analyze(builder.write(frames=[f for f in builder.frames if f[0] < T0 + 900 * MS],
                              captures=both))
    assert a.verdict.status == "INCONCLUSIVE", a.verdict.reasons
    (gap,) = [r for r in a.episodes[0].reasons if r.code == "capture_gap"]
    assert gap.message.startswith("device.pcap does not cover")
    b = analyze(builder.write(frames=[], captures=both))  # a valid capture holding no frame
    assert b.verdict.status == "INCONCLUSIVE"
    assert "capture_gap" in {r.code for r in b.episodes[0].reasons}


def test_packet_only_episode_beside_a_logged_one_is_not_a_pass(builder):
    builder.probes_run(0, 3000, lambda t: "block" if (500 <= t < 800 or 2000 <= t < 2300)
                       else "up")
    builder.down_up(500, 800)                            # the logs tell of the first only
    a = analyze(builder.write())
    assert [e.verdict for e in a.episodes] == ["PASS", "INCONCLUSIVE"]
    assert [r.code for r in a.episodes[1].reasons] == ["no_tunnel_down"]
    assert a.verdict.status == "INCONCLUSIVE"
    assert [(r.code, r.episode) for r in a.verdict.reasons] == [("no_tunnel_down", 2)]


def test_a_declared_log_holding_no_event_counts_as_missing(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    root = builder.write(logs=[{"file": "logs/journal.json"}, {"file": "logs/probes.jsonl"},
                               {"file": "logs/wireguard-go.log", "format": "wireguard-go"}])
    (root / "logs/wireguard-go.log").write_bytes(b"")
    a = analyze(root)
    assert a.verdict.status == "INCONCLUSIVE"
    assert [(r.code, r.message) for r in a.verdict.reasons] == [
        ("log_missing", "declared log logs/wireguard-go.log holds no event (empty file)")]


def test_link_upkeep_with_extension_headers_and_options_is_allowed(builder):
    from scapy.layers.igmp import IGMP
    from scapy.layers.inet6 import ICMPv6MLReport2, ICMPv6ND_RS, IPv6, IPv6ExtHdrHopByHop, RouterAlert
    from scapy.packet import Raw
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    builder.frame(T0 + 1100 * MS, IPv6(src="fe80::2", dst="ff02::16") /
                  IPv6ExtHdrHopByHop(options=[RouterAlert()]) / ICMPv6MLReport2())   # MLDv2
    builder.frame(T0 + 1101 * MS, IPv6(src="fe80::2", dst="ff02::2") / ICMPv6ND_RS())
    builder.frame(T0 + 1102 * MS, IP(src=DEV4, dst="224.0.0.22", options=[b"\x94\x04\x00\x00"]) /
                  IGMP(type=0x22))                                                   # IGMPv3
    builder.frame(T0 + 1103 * MS, IPv6(src="fe80::2", dst="ff02::1:2") /
                  UDP(sport=546, dport=547) / Raw(b"\x01abc"))                       # DHCPv6
    a = analyze(builder.write())
    assert a.verdict.status == "PASS", a.verdict.reasons
    assert a.classification["link_upkeep"] == 4 and a.classification["leak"] == 0


def test_evidence_names_sni_and_http_host(builder):
    from scapy.layers.tls.all import TLS, TLSClientHello
    from scapy.layers.tls.extensions import ServerName, TLS_Ext_ServerName
    from scapy.packet import Raw
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    hello = TLS(msg=[TLSClientHello(ext=[TLS_Ext_ServerName(
        servernames=[ServerName(servername=b"sni.example.com")])])])
    builder.frame(T0 + 1100 * MS, IP(src=DEV4, dst="203.0.113.7") /
                  TCP(sport=50001, dport=443, flags="PA", seq=1) / hello)
    builder.frame(T0 + 1200 * MS, IP(src=DEV4, dst="203.0.113.8") /
                  TCP(sport=50002, dport=80, flags="PA", seq=1) /
                  Raw(b"GET / HTTP/1.1\r\nHost: host.example.org\r\n\r\n"))
    a = analyze(builder.write())
    (ep,) = a.episodes
    assert [(e["tls_sni"], e["http_host"]) for e in ep.evidence] == [
        ("sni.example.com", ""), ("", "host.example.org")]
    assert a.to_dict()["episodes"][0]["evidence"][0]["frame"] == ep.evidence[0]["frame"]


def test_misspelt_tunnel_interface_and_endpoint_fail_closed_and_say_why(builder):
    builder.probes_run(0, 2000, lambda t: "block" if 1000 <= t < 1200 else "up")
    builder.down_up(1000, 1200)
    a = analyze(builder.write(**{"device.tunnel_interfaces": ["wg1"],
                                 "vpn.endpoints": ["198.51.100.3:51820/udp"]}))
    assert a.verdict.status == "FAIL" and a.classification["inside_tunnel"] == 0
    assert "device.tunnel_interfaces wg1 appears in no device capture (interfaces seen: wg0, " \
           "wlan0)" in a.notes
    assert any(n.startswith("no frame went to or came from a declared vpn.endpoints") and
               "198.51.100.3:51820/udp" in n for n in a.notes)
    b = analyze(builder.write())
    assert not any("appears in no" in n or "no frame went" in n for n in b.notes)


def _to_pcapng_with_drops(pcap_path, ifdrop):
    """Rewrite a ns SLL2 pcap as pcapng (one interface, ns resolution) ending with an
    Interface Statistics Block whose isb_ifdrop is `ifdrop`, as dumpcap writes it."""
    data = pcap_path.read_bytes()

    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        n = len(body) + 12
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + b"\0" * 4),
           block(1, struct.pack("<HHI", 276, 0, 0) + struct.pack("<HHB3x", 9, 1, 9)
                 + b"\0" * 4)]
    pos, last = 24, 0
    while pos + 16 <= len(data):
        sec, nsec, incl, orig = struct.unpack_from("<IIII", data, pos)
        last = sec * 10 ** 9 + nsec
        out.append(block(6, struct.pack("<IIIII", 0, last >> 32, last & 0xFFFFFFFF, incl, orig)
                         + data[pos + 16:pos + 16 + incl]))
        pos += 16 + incl
    out.append(block(5, struct.pack("<III", 0, last >> 32, last & 0xFFFFFFFF)
                     + struct.pack("<HHQ", 5, 8, ifdrop) + b"\0" * 4))
    target = pcap_path.with_suffix(".pcapng")
    target.write_bytes(b"".join(out))
    return target


def test_drop_counter_inside_a_pcapng_is_inconclusive(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    root = builder.write(captures=[{"file": "device.pcapng"}])
    for drops, status in ((0, "PASS"), (7, "INCONCLUSIVE")):
        _to_pcapng_with_drops(root / "device.pcap", drops)
        a = analyze(root)
        assert a.verdict.status == status, a.verdict.reasons
        assert a.captures[0]["dropped_in_file"] == drops and a.captures[0]["dropped_declared"] is None
    assert [r.code for r in a.verdict.reasons] == ["dropped_packets"]
    assert "7 packets dropped" in a.verdict.reasons[0].message
