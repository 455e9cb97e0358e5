"""The events users report, on generated evidence: the boot episode (``scenario: boot``)
and a user disconnect judged by ``vpn.blocks_when_disconnected`` (docs/events.md)."""

import json

import pytest

from ksaudit import analyze
from leak_builder import DEV4, MS, T0


def _boot_evidence(builder, before, tunnel_ms=800, end_ms=1500):
    """A device whose capture starts before the network is up: a DHCP discover at 0 ms
    (link upkeep, the first frame), probes from 5 ms that are `before` until the tunnel
    first comes up at `tunnel_ms` (logged just before the first tunnel frame)."""
    builder.udp(T0, "0.0.0.0", "255.255.255.255", 68, 67, b"\x01" * 240)
    builder.probes_run(5, end_ms, lambda t: before if t < tunnel_ms else "up")
    builder.log(tunnel_ms - 1, "tunnel up dev wg0")


def test_boot_leaks_before_the_first_connect_are_the_boot_episode_s(builder):
    _boot_evidence(builder, "leak")
    a = analyze(builder.write(scenario="boot"), deep=False)
    assert a.verdict.status == "FAIL"
    assert [r.code for r in a.verdict.reasons] == ["leak"]       # not a steady-state leak
    (ep,) = a.episodes
    assert ep.start_ns == T0 and ep.end_ns == T0 + 799 * MS
    assert ep.leaked_frames == 80 and ep.probes["leaked_seqs"] == ["1-80"]
    assert ep.time_to_first_leak_ns == 5 * MS + 5_000
    assert "before the tunnel first came up" in ep.start_evidence[0]
    assert a.steady_state["leaked_frames"] == 0


def test_boot_strong_blocks_until_the_tunnel_is_up_and_passes(builder):
    _boot_evidence(builder, "block")
    a = analyze(builder.write(scenario="boot"), deep=False)
    assert a.verdict.status == "PASS", a.verdict.reasons
    (ep,) = a.episodes
    assert ep.verdict == "PASS" and ep.start_ns == T0
    assert ep.probes["refused"] == 80 and ep.probes["leaked"] == 0


def test_without_scenario_boot_the_stretch_before_the_first_connect_is_not_judged(builder):
    # today's reading, kept: nothing claims protection from boot, so a blocked start
    # proves nothing (no episode) and a leaking one still fails (steady-state leak)
    _boot_evidence(builder, "block")
    a = analyze(builder.write(scenario="custom"), deep=False)
    assert a.verdict.status == "INCONCLUSIVE" and not a.episodes
    assert [r.code for r in a.verdict.reasons] == ["no_tunnel_down"]


def test_boot_leak_without_scenario_boot_still_fails(builder):
    _boot_evidence(builder, "leak")
    a = analyze(builder.write(scenario="custom"), deep=False)
    assert a.verdict.status == "FAIL"
    assert {r.code for r in a.verdict.reasons} == {"steady_state_leak", "no_tunnel_down"}


def test_boot_probe_let_out_before_every_capture_ran_is_uncovered(builder):
    # the OS let a probe out 50 ms before the capture's first frame: it went somewhere
    # no capture saw, so the boot episode starts uncovered (fail closed)
    _boot_evidence(builder, "block")
    builder.probes.insert(0, {"ts_ns": T0 - 50 * MS, "seq": 0, "dst": "203.0.113.80:33434",
                              "proto": "udp", "result": "sent"})
    a = analyze(builder.write(scenario="boot"), deep=False)
    assert a.verdict.status == "INCONCLUSIVE"
    assert "capture_gap" in {r.code for r in a.verdict.reasons}
    assert a.episodes[0].start_ns == T0 - 50 * MS


def test_boot_tunnel_never_up_is_not_covered_to_its_end(builder):
    builder.udp(T0, "0.0.0.0", "255.255.255.255", 68, 67, b"\x01" * 240)
    builder.probes_run(5, 800, lambda t: "block")
    a = analyze(builder.write(scenario="boot"), deep=False)
    assert a.verdict.status == "INCONCLUSIVE"
    (ep,) = a.episodes
    assert ep.end_ns is None and "capture_gap" in {r.code for r in ep.reasons}


def test_boot_episode_ends_at_the_first_tunnel_frame_not_a_later_tunnel_up(builder):
    # the capture starts with the tunnel already up: the first tunnel_up line (1500 ms)
    # is the later reconnect's; the boot episode ends at the first tunnel frame
    builder.udp(T0, "0.0.0.0", "255.255.255.255", 68, 67, b"\x01" * 240)
    builder.probes_run(5, 2500, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    a = analyze(builder.write(scenario="boot"), deep=False)
    boot, reconnect = a.episodes
    assert boot.end_ns == T0 + 5 * MS + 5_000
    assert reconnect.start_ns == T0 + 1000 * MS and reconnect.end_ns == T0 + 1500 * MS
    assert a.verdict.status == "PASS", a.verdict.reasons


# ---------------------------------------------------------------- disconnect

def _disconnect_evidence(builder, during):
    """Connected, the user disconnects at 1000 ms (a tunnel-down line), reconnects at 1600."""
    builder.probes_run(0, 2500, lambda t: during if 1000 <= t < 1600 else "up")
    builder.log(1000, "tunnel down (disconnect requested; dev wg0)")
    builder.log(1600, "tunnel up (connected; dev wg0)")


@pytest.mark.parametrize("promise, verdict", [(True, "FAIL"), (None, "FAIL"), (False, "INCONCLUSIVE")])
def test_disconnect_leaks_follow_the_promise(builder, promise, verdict):
    _disconnect_evidence(builder, "leak")
    vpn = {"endpoints": ["198.51.100.2:51820/udp"]}
    if promise is not None:
        vpn["blocks_when_disconnected"] = promise
    a = analyze(builder.write(scenario="disconnect", vpn=vpn), deep=False)
    assert a.verdict.status == verdict
    (ep,) = a.episodes
    assert ep.leaked_frames == 60 and ep.verdict == "FAIL"      # listed either way
    assert ep.promised is (promise is not False)
    assert ep.to_dict()["promised"] is (promise is not False)
    notes = " ".join(a.notes)
    if promise is False:
        assert "does not promise to block" in notes and "60 frame(s)" in notes
        # nothing else was under test: not a PASS for a kill switch nobody checked
        assert [(r.code, r.episode) for r in a.verdict.reasons] == [("no_tunnel_down", None)]
        assert "does not promise to block" in a.verdict.reasons[0].message
    elif promise is None:
        assert "blocks_when_disconnected is not declared" in notes
    json.dumps(a.to_dict())


def test_analyze_cli_says_the_unpromised_episode_is_listed_only(builder, capsys):
    from ksaudit.cli import main
    _disconnect_evidence(builder, "leak")
    vpn = {"endpoints": ["198.51.100.2:51820/udp"], "blocks_when_disconnected": False}
    assert main(["analyze", str(builder.write(scenario="disconnect", vpn=vpn))]) == 3
    out = capsys.readouterr().out
    assert "episode 1 FAIL (a disconnect not promised to be blocked: listed only): leaked 60" in out
    assert out.splitlines()[0].endswith(": INCONCLUSIVE")


@pytest.mark.parametrize("promise, verdict", [(True, "PASS"), (False, "INCONCLUSIVE")])
def test_disconnect_blocked_passes_only_when_promised(builder, promise, verdict):
    # blocking what nothing promised to block is welcome, but it is no test of a promise
    _disconnect_evidence(builder, "block")
    vpn = {"endpoints": ["198.51.100.2:51820/udp"], "blocks_when_disconnected": promise}
    a = analyze(builder.write(scenario="disconnect", vpn=vpn), deep=False)
    assert a.verdict.status == verdict, a.verdict.reasons


def test_not_promised_excuses_only_a_logged_disconnect(builder):
    # a process crash inside a disconnect scenario is no user disconnect: its leaks fail
    builder.probes_run(0, 2500, lambda t: "leak" if 1000 <= t < 1600 else "up")
    builder.log(1000, "ksaudit-lab-client-wg.service: Main process exited, code=killed, "
                "status=9/KILL", ident="systemd")
    builder.log(1600, "tunnel up (restarted; dev wg0)")
    vpn = {"endpoints": ["198.51.100.2:51820/udp"], "blocks_when_disconnected": False}
    a = analyze(builder.write(scenario="disconnect", vpn=vpn), deep=False)
    assert a.verdict.status == "FAIL" and a.episodes[0].promised


def test_not_promised_does_not_excuse_leaks_before_the_disconnect_line(builder):
    # the tunnel died at 1000 ms and leaked; the user's disconnect is logged at 1300 ms:
    # the episode opens at the line, but the frames before it left while connected
    builder.probes_run(0, 2500, lambda t: "leak" if 1000 <= t < 1600 else "up")
    builder.log(1300, "tunnel down (disconnect requested; dev wg0)")
    builder.log(1600, "tunnel up (connected; dev wg0)")
    vpn = {"endpoints": ["198.51.100.2:51820/udp"], "blocks_when_disconnected": False}
    a = analyze(builder.write(scenario="disconnect", vpn=vpn), deep=False)
    assert a.verdict.status == "FAIL" and a.episodes[0].promised
    assert any("before the disconnect was logged" in n and "30 frame(s)" in n for n in a.notes)


def test_not_promised_does_not_excuse_leaks_once_reconnected(builder):
    state = lambda t: "leak" if 1000 <= t < 1600 or 2000 <= t < 2030 else "up"
    builder.probes_run(0, 2500, state)
    builder.log(1000, "tunnel down (disconnect requested; dev wg0)")
    builder.log(1600, "tunnel up (connected; dev wg0)")
    vpn = {"endpoints": ["198.51.100.2:51820/udp"], "blocks_when_disconnected": False}
    a = analyze(builder.write(scenario="disconnect", vpn=vpn), deep=False)
    assert a.verdict.status == "FAIL"
    assert {r.code for r in a.verdict.reasons} == {"steady_state_leak", "no_tunnel_down"}


def test_promise_on_another_scenario_is_noted_and_changes_nothing(builder):
    _disconnect_evidence(builder, "leak")
    vpn = {"endpoints": ["198.51.100.2:51820/udp"], "blocks_when_disconnected": False}
    a = analyze(builder.write(scenario="reconnect", vpn=vpn), deep=False)
    assert a.verdict.status == "FAIL" and a.episodes[0].promised
    assert any("applies to scenario: disconnect only" in n for n in a.notes)
    assert DEV4 in a.episodes[0].to_dict()["destinations"] or a.episodes[0].leaked_frames
