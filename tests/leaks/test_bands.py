"""Boundary bands and the test window (DESIGN.md "Verdicts fail closed", docs/test-window.md).

A boundary's uncertainty makes an episode INCONCLUSIVE only when something whose verdict
could flip lies inside the band; packets fix boundaries to the capture's precision and a
coarse log line widens, never replaces, them.  Episodes wholly outside the test window are
listed and do not change the verdict.
"""

from datetime import datetime, timezone

from ksaudit import analyze
from ksaudit.leaks.episodes import Bound, combine_bounds
from leak_builder import DEV4, MS, T0, window

WG_LOG = {"file": "logs/wireguard-go.log", "format": "wireguard-go", "timezone": "UTC"}
LOGS = [{"file": "logs/journal.json"}, {"file": "logs/probes.jsonl"}, WG_LOG]


def _wg_line(t_ms, text):
    stamp = datetime.fromtimestamp((T0 + t_ms * MS) // 10**9, timezone.utc)
    return f"DEBUG: (wg0) {stamp:%Y/%m/%d %H:%M:%S} {text}\n"


def _with_wg_log(builder, lines, **overrides):
    root = builder.write(logs=LOGS, **overrides)
    (root / "logs/wireguard-go.log").write_text("".join(_wg_line(t, m) for t, m in lines))
    return root


def test_combine_bounds():
    log = Bound(1_000, 1_000, 2_000)                 # a 1 us interval
    pkt = Bound(900, 900, 1_900)
    assert combine_bounds(log, pkt) == (1_000, (1_000, 1_900), True)
    coarse = Bound(0, 0, 10_000)
    assert combine_bounds(coarse, pkt) == (900, (900, 1_900), True)
    # a coarse line that disagrees widens the packets' band, never moves its moment
    late = Bound(5_000, 5_000, 15_000)
    assert combine_bounds(late, pkt) == (900, (900, 15_000), False)
    # packets that disagree with a more precise line do not widen it
    assert combine_bounds(Bound(3_000, 3_000, 3_001), pkt) == (3_000, (3_000, 3_001), False)
    assert combine_bounds(None, pkt) == (900, (900, 1_900), True)


def test_a_coarse_tunnel_up_line_does_not_turn_a_clean_pass_inconclusive(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 800 <= t < 1500 else "up")
    builder.log(800, "tunnel down dev wg0")
    root = _with_wg_log(builder, [(1500, "Interface state was Down, requested Up, now Up")])
    a = analyze(root)
    (ep,) = a.episodes
    assert a.verdict.status == "PASS", a.verdict.reasons
    # the end comes from the first tunnel frame (1500 ms + 5 us), not the 1 s line
    assert ep.end_ns == T0 + 1500 * MS + 5_000
    assert ep.end_band == (T0 + 1490 * MS + 5_000, T0 + 1500 * MS + 5_000)
    assert any("nothing inside that band could change the verdict" in n for n in ep.notes)
    # the old rule (the only end event is 1 s wide) would have said INCONCLUSIVE
    assert ep.to_dict()["end_uncertainty_us"] == 10_000


def test_a_leak_inside_an_uncertain_band_is_named(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.log(1000, "tunnel down dev wg0")
    builder.udp(T0 + 1497 * MS, DEV4, "203.0.113.99", 41000, 443)
    a = analyze(_with_wg_log(builder, [(1500, "Interface state was Down, requested Up, now Up")]))
    assert a.verdict.status == "FAIL"
    band = [r for r in a.verdict.reasons if r.code == "clock_uncertainty"]
    assert len(band) == 1 and "1 frame(s) left outside the tunnel" in band[0].message


def test_a_stretch_without_probes_inside_a_wide_band_is_inconclusive(builder):
    builder.probes_run(0, 1500, lambda t: "block" if t >= 800 else "up")
    builder.probes_run(2500, 3500, lambda t: "up", first_seq=500)     # none 1500-2500 ms
    builder.log(800, "tunnel down dev wg0")          # a second before the 1 s line's second
    a = analyze(_with_wg_log(builder, [(1400, "Interface state was Down, requested Up, now Up")]))
    (ep,) = a.episodes
    assert a.verdict.status == "INCONCLUSIVE"
    (r,) = [r for r in a.verdict.reasons if r.code == "clock_uncertainty"]
    assert "no probe was attempted for" in r.message and ep.end_band[1] - ep.end_band[0] > 10**9


def _capture_runs_on(builder):
    """An unsolicited inbound frame at 3.6 s: the capture goes on after the probes stop."""
    builder.udp(T0 + 3600 * MS, "192.168.50.1", DEV4, 123, 40123, out=False)


def _run_that_stops_the_client(builder, stop_ms):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 or t >= stop_ms else "up")
    builder.down_up(1000, 1500)
    builder.log(stop_ms, "tunnel down dev wg0")
    _capture_runs_on(builder)


def test_an_episode_after_the_probes_stopped_is_outside_the_window(builder):
    _run_that_stops_the_client(builder, 3200)
    a = analyze(builder.write())
    first, last = a.episodes
    assert a.verdict.status == "PASS", a.verdict.reasons
    assert first.in_window and last.outside_window == "after"
    assert last.verdict == "INCONCLUSIVE"                 # judged on its own, listed in full
    assert any(n.startswith("episode 2 begins after the test window") for n in a.notes)
    doc = a.to_dict()
    assert doc["window"]["source"] == "probe log + probe packets"
    assert doc["episodes"][1]["outside_window"] == "after"


def test_an_episode_inside_the_window_that_is_not_covered_stays_inconclusive(builder):
    _run_that_stops_the_client(builder, 2500)
    a = analyze(builder.write())
    assert a.verdict.status == "INCONCLUSIVE"
    assert {r.episode for r in a.verdict.reasons} == {2}
    assert "capture_gap" in {r.code for r in a.verdict.reasons}


def test_a_declared_window(builder):
    _run_that_stops_the_client(builder, 3200)
    # a window that covers the stop: now it is judged, and not covered
    a = analyze(builder.write(window={"after_s": 0, "before_s": 3.5}))
    assert a.verdict.status == "INCONCLUSIVE" and a.episodes[1].in_window
    # a window that holds no episode proves nothing
    b = analyze(builder.write(window={"start_ns": T0 + 1600 * MS, "end_ns": T0 + 2000 * MS}))
    assert b.verdict.status == "INCONCLUSIVE"
    assert "no_tunnel_down" in {r.code for r in b.verdict.reasons}
    assert [e.outside_window for e in b.episodes] == ["before", "after"]


def test_a_leak_in_the_window_still_fails(builder):
    builder.probes_run(0, 3000, window(1000, 1500))
    builder.down_up(1000, 1500)
    builder.log(3200, "tunnel down dev wg0")
    _capture_runs_on(builder)
    a = analyze(builder.write())
    assert a.verdict.status == "FAIL" and a.episodes[0].leaked_frames == 50


def test_a_declared_capture_skew_moves_a_leak_across_the_boundary(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    builder.write()
    # the router sees one leaked frame at 1510 ms on its own clock
    builder.udp(T0 + 1510 * MS, DEV4, "203.0.113.99", 41000, 443)
    leak = builder.frames.pop()
    builder.write(pcap="router.pcap", frames=[leak])
    caps = [{"file": "device.pcap"}, {"file": "router.pcap", "vantage": "external",
                                      "clock": "router"}]
    plain = analyze(builder.write(captures=caps, clocks={"router": {"offset_ns": 0}}))
    assert plain.leaks["episode"].tolist() == [0]             # after the tunnel came back
    # 10,000 ppm slow since the run's first frame: 15.1 ms earlier, inside the episode
    skewed = analyze(builder.write(captures=caps,
                                   clocks={"router": {"offset_ns": 0, "skew_ppm": -10_000}}))
    assert skewed.leaks["episode"].tolist() == [1]
    pivot = skewed.captures[0]["first_ns"]             # the run's first frame
    at = T0 + 1510 * MS
    assert skewed.leaks["ts_ns"].tolist() == [at - round((at - pivot) * 0.01)]
    assert skewed.to_dict()["alignment"]["captures"][1]["skew_ppm"] == -10_000


def test_a_declared_capture_uncertainty_over_the_tolerance_is_inconclusive(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    wlan = [(ts, p) for ts, p in builder.frames if p.ifindex == 2]
    builder.write()
    builder.write(pcap="router.pcap", frames=wlan)
    caps = [{"file": "device.pcap"}, {"file": "router.pcap", "vantage": "external",
                                      "clock": "router"}]
    ok = analyze(builder.write(captures=caps, clocks={"router": {"uncertainty_ns": 500_000}}))
    assert ok.verdict.status == "PASS", ok.verdict.reasons
    bad = analyze(builder.write(captures=caps,
                                clocks={"router": {"uncertainty_ns": 10_000_000_000}}))
    assert bad.verdict.status == "INCONCLUSIVE"
    (r,) = [r for r in bad.verdict.reasons if r.episode is None]
    assert r.code == "clock_uncertainty" and "router.pcap" in r.message


def test_a_leak_in_an_episode_outside_the_window_still_fails(builder):
    """A window never hides a leak: the client stopped, and then something left."""
    _run_that_stops_the_client(builder, 3200)
    builder.udp(T0 + 3400 * MS, DEV4, "8.8.8.8", 41000, 53)
    a = analyze(builder.write())
    assert a.episodes[1].outside_window == "after" and a.episodes[1].leaked_frames == 1
    assert a.verdict.status == "FAIL"
    assert {(r.code, r.episode) for r in a.verdict.reasons} == {("leak", 2)}
    assert any("count as leaks wherever they are" in n for n in a.notes)


def test_a_probe_log_cut_short_does_not_move_a_leaking_trial_out_of_the_window(builder):
    builder.probes_run(0, 3000, lambda t: "leak" if 2000 <= t < 2300 else "up")
    builder.down_up(2000, 2300)
    builder.write()
    builder.probes = [p for p in builder.probes if p["ts_ns"] < T0 + 1900 * MS]
    a = analyze(builder.write())
    assert a.to_dict()["window"]["end_ns"] >= T0 + 2990 * MS
    assert a.episodes[0].in_window and a.verdict.status == "FAIL"


def test_the_far_edge_of_a_coarse_line_past_the_capture_end_is_not_a_gap(builder):
    """A 1 s tunnel-up line whose second ends after the capture: the packets fix the end."""
    builder.probes_run(0, 1800, lambda t: "block" if 800 <= t < 1500 else "up")
    builder.log(800, "tunnel down dev wg0")
    a = analyze(_with_wg_log(builder, [(1500, "Interface state was Down, requested Up, now Up")]))
    (ep,) = a.episodes
    assert a.captures[0]["last_ns"] < T0 + 2000 * MS <= ep.end_hi_ns
    assert a.verdict.status == "PASS", a.verdict.reasons


def test_a_declared_clock_the_probes_disprove_is_clock_uncertainty(builder):
    """The probe log declared on a clock 1 s off: every probe packet contradicts it."""
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    logs = [{"file": "logs/journal.json"}, {"file": "logs/probes.jsonl", "clock": "gen"}]
    for offset, words in ((10**9, "before they were sent"), (-10**9, "after its stamp")):
        a = analyze(builder.write(logs=logs, clocks={"gen": {"offset_ns": offset}}))
        (r,) = [r for r in a.verdict.reasons if r.episode is None]
        assert r.code == "clock_uncertainty" and words in r.message, r
    ok = analyze(builder.write(logs=logs, clocks={"gen": {"offset_ns": 0}}))
    assert ok.verdict.status == "PASS", ok.verdict.reasons


def test_a_declared_capture_clock_its_probes_disprove_is_clock_uncertainty(builder):
    builder.probes_run(0, 3000, window(1000, 1500))     # the router sees leaked probes
    builder.down_up(1000, 1500)
    wlan = [(ts, p) for ts, p in builder.frames if p.ifindex == 2]
    builder.write()
    builder.write(pcap="router.pcap", frames=wlan)
    caps = [{"file": "device.pcap"}, {"file": "router.pcap", "vantage": "external",
                                      "clock": "router"}]
    a = analyze(builder.write(captures=caps, clocks={"router": {"offset_ns": -10**9}}))
    assert any(r.code == "clock_uncertainty" and "router.pcap" in r.message
               and "before they were sent" in r.message for r in a.verdict.reasons)


def test_a_coarse_up_line_in_the_start_second_of_another_file_does_not_end_it(builder):
    """Two files, one second: nothing orders the up after the down (the client's start-up
    "up" and the kill's "down"), so the packets end the episode."""
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.log(1000, "tunnel down dev wg0")
    a = analyze(_with_wg_log(builder, [(1100, "Interface state was Down, requested Up, now Up")]))
    (ep,) = a.episodes
    assert ep.end_ns == T0 + 1500 * MS + 5_000 and a.verdict.status == "PASS", a.verdict.reasons
    assert any("its order is unknown" in d for d in ep.during_evidence)


def test_a_logged_tunnel_down_the_transport_disproves_tests_nothing(builder):
    # the logs say down at 1 s and up at 2 s, but every probe kept leaving encapsulated
    # to the endpoint: the event did not take the tunnel down, so a PASS would be unearned
    builder.probes_run(0, 3000, lambda t: "up")
    builder.down_up(1000, 2000)
    a = analyze(builder.write())
    (ep,) = a.episodes
    assert a.verdict.status == "INCONCLUSIVE"
    assert [r.code for r in ep.reasons] == ["no_tunnel_down"]
    assert "kept sending tunnel data" in ep.reasons[0].message


def test_transport_that_stops_inside_the_logged_episode_is_a_real_tunnel_down(builder):
    # the same logs, but the tunnel carried nothing for 300 ms in the middle: tested
    builder.probes_run(0, 3000, lambda t: "block" if 1400 <= t < 1700 else "up")
    builder.down_up(1000, 2000)
    a = analyze(builder.write())
    assert a.verdict.status == "PASS", a.verdict.reasons
