"""Episodes from log events and packet evidence, merged; boundaries and notes."""

import pandas as pd

from ksaudit import analyze
from ksaudit.leaks.episodes import Gap, build_spans, packet_gaps
from leak_builder import DEV4, MS, T0, window


def _events(rows):
    """A minimal aligned event table: (t_ns, kind, width_ns, line)."""
    return pd.DataFrame({"ts_ns": [r[0] for r in rows], "kind": [r[1] for r in rows],
                         "t_lo_ns": [r[0] for r in rows],
                         "t_hi_ns": [r[0] + r[2] for r in rows],
                         "file": ["logs/x" for _ in rows], "line": [r[3] for r in rows],
                         "message": ["m" for _ in rows]})


def test_packet_gaps_threshold():
    ts = [0, 10, 20, 200, 210, 400]
    gaps = packet_gaps(pd.Series(ts).to_numpy(), lambda i: f"#{i}", 100)
    assert [(g.start_ns, g.end_ns, g.start_ref, g.end_ref) for g in gaps] == \
        [(20, 200, "#2", "#3"), (210, 400, "#4", "#5")]


def test_the_most_precise_report_of_a_moment_defines_it():
    # wireguard-go says "up" with a 1 s stamp at 5 s; NetworkManager says it at 5.4 s (100 us)
    ev = _events([(1_000_000_000, "tunnel_down", 1_000, 1),
                  (5_000_000_000, "tunnel_up", 1_000_000_000, 2),
                  (5_400_000_000, "tunnel_up", 100_000, 3)])
    (sp,) = build_spans(ev, {}, [], probe_interval_ns=None, tolerance_ns=1_000_000)
    assert sp.end_ns == 5_400_000_000 and sp.end_band == (5_400_000_000, 5_400_100_000)
    assert sp.end_evidence[0].endswith(':3 "m"') and len(sp.end_evidence) == 2


def test_events_take_the_packet_gap_and_note_disagreement():
    ev = _events([(1_000 * MS, "tunnel_down", 1_000, 1), (2_000 * MS, "tunnel_up", 1_000, 2)])
    gap = Gap(995 * MS, 2_002 * MS, "d#1", "d#2")
    (sp,) = build_spans(ev, {}, [gap], probe_interval_ns=10 * MS, tolerance_ns=1 * MS)
    assert (sp.start_ns, sp.start_lo_ns) == (1_000 * MS, 995 * MS)
    assert (sp.end_ns, sp.end_hi_ns) == (2_000 * MS, 2_002 * MS)
    assert sp.notes == ()
    late = Gap(900 * MS, 2_300 * MS, "d#1", "d#2")            # log 100 ms after traffic ended
    (sp,) = build_spans(ev, {}, [late], probe_interval_ns=10 * MS, tolerance_ns=1 * MS)
    assert len(sp.notes) == 2 and sp.start_lo_ns == 900 * MS and sp.end_hi_ns == 2_300 * MS


def test_packet_only_episode_without_events_is_not_a_pass(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.log(100, "Started Session 4 of User lab.", ident="systemd")
    a = analyze(builder.write())
    (ep,) = a.episodes
    assert ep.start_evidence[0].startswith("tunnel traffic ended device.pcap#")
    assert a.verdict.status == "INCONCLUSIVE"
    assert {r.code for r in a.verdict.reasons} == {"no_tunnel_down"}


def test_packet_only_episode_with_leak_fails(builder):
    builder.probes_run(0, 3000, window(1000, 1500))
    builder.log(100, "Started Session 4 of User lab.", ident="systemd")
    a = analyze(builder.write())
    assert a.verdict.status == "FAIL" and a.episodes[0].leaked_frames == 50
    # packets alone fix the start only to one probe interval, and the first leak lies
    # inside that band: the episode's start is uncertain where it matters, and says so
    assert {r.code for r in a.verdict.reasons} == {"leak", "no_tunnel_down", "clock_uncertainty"}


def test_episode_never_restored_is_a_capture_gap(builder):
    builder.probes_run(0, 3000, lambda t: "block" if t >= 1000 else "up")
    builder.log(1000, "tunnel down dev wg0")
    a = analyze(builder.write())
    (ep,) = a.episodes
    assert ep.end_ns is None and a.verdict.status == "INCONCLUSIVE"
    assert "capture_gap" in {r.code for r in ep.reasons}


def test_no_probes_events_define_the_episode(builder):
    for t in range(0, 3000, 100):
        if not 1000 <= t < 1500:
            builder.tunnel_packet(T0 + t * MS)
    builder.udp(T0 + 1200 * MS, DEV4, "203.0.113.9", 40000, 443)
    builder.down_up(1000, 1500)
    a = analyze(builder.write())
    (ep,) = a.episodes
    assert (ep.start_ns, ep.end_ns) == (T0 + 1000 * MS, T0 + 1500 * MS)
    assert a.parameters["gap_threshold_ns"] is None and ep.leaked_frames == 1
    assert a.verdict.status == "FAIL"


def test_handshakes_are_end_evidence(builder):
    from leak_builder import ENDPOINT
    builder.probes_run(0, 2000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    builder.udp(T0 + 1490 * MS, DEV4, ENDPOINT[0], 51000, ENDPOINT[1], b"\x01" + b"\0" * 147)
    builder.udp(T0 + 1495 * MS, ENDPOINT[0], DEV4, ENDPOINT[1], 51000, b"\x02" + b"\0" * 91,
                out=False)
    a = analyze(builder.write())
    (ep,) = a.episodes
    kinds = [e.rsplit(" ", 1)[0] for e in ep.end_evidence]
    assert "WireGuard handshake initiation" in kinds and "WireGuard handshake response" in kinds
    assert a.verdict.status == "PASS"


def test_no_logs_at_all(builder):
    builder.probes_run(0, 2000, lambda t: "up")
    a = analyze(builder.write(logs=[]))
    assert a.verdict.status == "INCONCLUSIVE" and a.episodes == ()
    assert [r.code for r in a.verdict.reasons] == ["no_tunnel_down"]
    assert a.events.empty and a.parameters["probe_interval_ns"] == 10 * MS


def test_flapping_link_is_one_episode_until_the_tunnel_is_back(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 2000 else "up")
    for k, t in enumerate((1000, 1300, 1600)):
        builder.log(t, "wlan0: Link is Down", ident="kernel")
        builder.log(t + 150, "wlan0: Link is Up", ident="kernel")
    builder.log(2000, "tunnel up dev wg0")
    a = analyze(builder.write())
    (ep,) = a.episodes
    assert ep.start_evidence[0].startswith("link_down ") and ep.end_ns == T0 + 2000 * MS
    assert sum(e.startswith("link_down") for e in ep.during_evidence) == 2
    assert a.verdict.status == "PASS", a.verdict.reasons


def test_handshakes_and_link_local_chatter_do_not_end_a_packet_gap(builder):
    # the tunnel interface comes back (router solicitation) and the client handshakes
    # 45 ms before data flows through the tunnel again; the leaks in between belong
    # to the episode, not to the steady state
    from scapy.layers.inet6 import ICMPv6ND_RS, IPv6
    from leak_builder import ENDPOINT, WG
    builder.probes_run(0, 3000, window(1000, 1500))
    builder.log(100, "Started Session 4 of User lab.", ident="systemd")
    builder.frame(T0 + 1455 * MS, IPv6(src="fe80::2", dst="ff02::2") / ICMPv6ND_RS(), ifindex=WG)
    builder.udp(T0 + 1458 * MS, DEV4, ENDPOINT[0], 51000, ENDPOINT[1], b"\x01" + b"\0" * 147)
    a = analyze(builder.write())
    (ep,) = a.episodes
    assert ep.leaked_frames == 50 and a.steady_state["leaked_frames"] == 0
    assert ep.end_hi_ns == T0 + 1500 * MS + 5_000            # the first probe inside wg0 again
    assert any(e.startswith("WireGuard handshake initiation") for e in ep.end_evidence)


def test_link_down_of_an_undeclared_interface_opens_no_episode(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.log(200, "docker0: Link is Down", ident="kernel")       # not the device's uplink
    builder.log(1200, "veth7: Link is Down", ident="kernel")
    builder.down_up(1000, 1500)
    a = analyze(builder.write())
    (ep,) = a.episodes
    assert ep.start_ns == T0 + 1000 * MS and ep.start_evidence[0].startswith("tunnel_down ")
    assert any(e.startswith("link_down ") and "veth7" in e for e in ep.during_evidence)
    assert a.verdict.status == "PASS", a.verdict.reasons
    assert a.events.loc[a.events["kind"].astype(str) == "link_down", "iface"].tolist() == \
        ["docker0", "veth7"]
