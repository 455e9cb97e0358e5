"""Evidence ksaudit did not make: `--rig foreign` runs, analysed as a new user would.

The foreign rig writes what another harness would (docs/lab.md "Another rig"):
wireguard-go daemonized without ``-f`` and with its banner, its own VPN app's words
in a text syslog, µs pcaps under its own names, the client stopped before the
captures end, and a scenario.yaml with ``format: auto`` and defaults left.  Verdicts
are checked against the sink's truth (lab-truth.json); the fail-closed rules are
checked on edited copies of those directories.
"""

import json
import shutil

import pytest
import yaml

import ksaudit
from ksaudit.lab import events, foreign, runner, topology

from . import pcapedit
from .conftest import assert_nothing_left, lab_unavailable
from .test_lab_runs import host_state

pytestmark = pytest.mark.lab

FAST = events.Timing(down_ms=400, settle_ms=150, reconnect_gap_ms=300)
# steady state longer than the syslog's 1 s quantum, so every 1 s band of a log line
# lies inside the probes' span and the captures
STEADY_MS = 1100


@pytest.fixture(scope="module")
def rig_b(tmp_path_factory):
    """``run(policy, event, system_log=...)`` -> (directory, truth); each made once."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("foreign") / "rig-b-2026.12"
    made = {}

    def run(policy, event, system_log="rfc3164", steady_ms=STEADY_MS):
        key = (policy, event, system_log, steady_ms)
        if key not in made:
            out = base / f"{policy}-{event}-{system_log}-{steady_ms}"
            before = host_state()
            res = runner.run(runner.RunOptions(event=event, policy=policy, out=str(out), rig="foreign",
                                               system_log=system_log, timing=FAST,
                                               steady_ms=steady_ms))
            assert host_state() == before
            assert_nothing_left(res.truth["run_id"])
            made[key] = (out, res.truth)
        return made[key]

    return run


def copy_of(src, dst):
    shutil.copytree(src, dst)
    with open(dst / "scenario.yaml") as fh:
        return yaml.safe_load(fh)


def save(sc, d):
    with open(d / "scenario.yaml", "w") as fh:
        yaml.safe_dump(sc, fh, sort_keys=False)


# ---------------------------------------------------------------- as a user brings it

def test_the_directory_is_written_the_way_another_rig_would(rig_b):
    out, truth = rig_b("strong", "process-kill")
    with open(out / "scenario.yaml") as fh:
        sc = yaml.safe_load(fh)
    assert {log["format"] for log in sc["logs"]} == {"auto"}
    assert "clocks" not in sc and "policy" not in sc and "addresses" not in sc["device"]
    assert all(set(c) <= {"file", "vantage"} for c in sc["captures"])     # no drop counts
    assert {r["identifier"] for r in sc["rules"]} >= {"vpnagent", "wpa_supplicant"}
    wg_log = (out / foreign.WG_LOG).read_text(encoding="utf-8")
    assert wg_log.startswith("┌") and "first class support for WireGuard" in wg_log
    assert wg_log.count("Running wireguard-go is not required") == 2     # started, restarted
    assert "Device closing" in wg_log and wg_log.rstrip().endswith("Shutting down")
    syslog = (out / "logs" / "syslog").read_text()
    assert "ksaudit" not in syslog and " vpnagent[" in syslog
    # the client was stopped after the probes, while the captures still ran
    stop = next(c["ts_ns"] for c in truth["teardown_changes"] if c["change"] == "tunnel_down")
    assert stop > truth["probe_span_ns"][1] + 10**9
    assert stop + foreign.CAPTURE_TAIL_S * 10**9 < truth["ended_ns"]


@pytest.mark.parametrize("event", ["process-kill", "wifi-yank", "sleep-wake"])
def test_strong_kill_switch_passes(rig_b, event):
    """process-kill: the agent's supervisor lines and wireguard-go's restart banner;
    wifi-yank: wpa_supplicant and dhclient; sleep-wake: systemd-sleep's other wording."""
    out, truth = rig_b("strong", event)
    assert truth["expected_verdict"] == "PASS"
    a = ksaudit.analyze(out, deep=False)
    assert a.verdict.status == "PASS", [(r.code, r.message) for r in a.verdict.reasons]
    assert len(a.leaks) == 0
    doc = a.to_dict()
    assert all(log["format"] in ("rfc3164", "wireguard-go", "ksaudit-probe") for log in doc["logs"])
    # the client's stop opened an episode after the probes' span: listed, outside the window
    stop = next(c["ts_ns"] for c in truth["teardown_changes"] if c["change"] == "tunnel_down")
    after = [e for e in doc["episodes"] if e["start_ns"] >= truth["probe_span_ns"][1]]
    assert after and all(not e["in_window"] for e in after)
    assert any(e["start_ns"] <= stop + 10**9 for e in after)


def leak_frames(out, sc, seqs):
    """(capture index, frame) of every frame carrying a leaked probe seq outside the tunnel:
    on wlan0 at the device vantage, and at the external one."""
    wlan = {f"#{k}" for k, v in sc["device"]["ifindex"].items() if v == "wlan0"}
    found = {}
    for i, cap in enumerate(sc["captures"]):
        p = ksaudit.read_packets(out / cap["file"])
        rows = p[p["probe_seq"].isin(seqs)]
        if cap.get("vantage", "device") == "device":
            rows = rows[rows["iface"].astype(str).isin(wlan)]
        for r in rows.itertuples(index=False):
            found[(i, int(r.frame))] = int(r.ts_ns)
    return found


@pytest.mark.parametrize("policy,event", [("weak-reconnect", "reconnect"), ("app-level", "process-kill")])
def test_weak_kill_switch_fails_with_its_window_exact_to_the_frame(rig_b, policy, event):
    out, truth = rig_b(policy, event)
    trial = truth["trials"][0]
    assert truth["expected_verdict"] == "FAIL" and trial["outside_seqs"]
    a = ksaudit.analyze(out, deep=False)
    assert a.verdict.status == "FAIL"
    with open(out / "scenario.yaml") as fh:
        sc = yaml.safe_load(fh)
    want = leak_frames(out, sc, set(trial["outside_seqs"]))
    sent = a.leaks[a.leaks["rule"].astype(str) == "leak"]
    got = {(int(r.capture), int(r.frame)): int(r.ts_ns) for r in sent.itertuples(index=False)}
    assert got == want                                   # the same frames, at the same times
    assert set(sent["probe_seq"].astype(int)) == set(trial["outside_seqs"])
    (ep,) = [e for e in a.episodes if e.leaked_frames]
    assert set(sent["episode"].astype(int)) == {ep.id}
    assert (ep.first_leak_ns, ep.last_leak_ns) == (min(want.values()), max(want.values()))
    assert ep.first_leak_ns <= trial["first_leak_arrival_ns"]       # seen before the sink got it
    assert a.steady_state["leaked_frames"] == 0


# ---------------------------------------------------------------- fail closed on edited copies

def test_leak_inside_an_uncertain_band_is_never_a_pass(rig_b, tmp_path):
    """The packets that fix the episode's end are removed up to the end of the second in
    which the tunnel came back, so only the 1 s log line and later frames bound it; a
    frame the device sent outside the tunnel inside that band must keep the episode from
    passing: the band's uncertainty is reported against it (clock_uncertainty), and the
    frame itself is a leak (FAIL outranks INCONCLUSIVE, DESIGN "Verdicts fail closed")."""
    src, truth = rig_b("strong", "process-kill")
    d = tmp_path / "band"
    sc = copy_of(src, d)
    trial = truth["trials"][0]
    second_end = (trial["restored_ns"] // 10**9 + 1) * 10**9
    tunnel = {f"#{k}" for k, v in sc["device"]["ifindex"].items() if v in sc["device"]["tunnel_interfaces"]}
    for i, cap in enumerate(sc["captures"]):
        p = ksaudit.read_packets(src / cap["file"])
        side = p["iface"].astype(str).isin(tunnel) | (p["sport"] == topology.WG_PORT) | \
            (p["dport"] == topology.WG_PORT)
        drop = p.loc[side & (p["ts_ns"] > trial["down_ns"]) & (p["ts_ns"] <= second_end), "frame"]
        pcapedit.edit(src / cap["file"], d / cap["file"], drop_frames=drop.tolist())
    quiet = ksaudit.analyze(d, deep=False)
    assert quiet.verdict.status == "PASS"                # nothing in the band could change it
    ep = next(e for e in quiet.episodes if e.in_window)
    lo, hi = ep.end_band
    assert hi - lo > sc.get("policy", {}).get("tolerance_us", 1000) * 1000
    # one datagram to the internet on wlan0, in the middle of that band
    p = ksaudit.read_packets(d / foreign.DEVICE_PCAP)
    wlan = [k for k, v in sc["device"]["ifindex"].items() if v == "wlan0"][0]
    template = int(p.loc[(p["iface"].astype(str) == f"#{wlan}") & (p["direction"].astype(str) == "out")
                         & (p["ethertype"] == 0x0800), "frame"].iloc[0])
    leak = pcapedit.udp4(topology.DEV_ADDR, topology.SINK_ADDR, 40000, topology.SINK_PORT, b"hello")
    pcapedit.edit(d / foreign.DEVICE_PCAP, d / foreign.DEVICE_PCAP, add=[((lo + hi) // 2, leak)],
                  template_frame=template)
    a = ksaudit.analyze(d, deep=False)
    codes = {r.code for r in a.verdict.reasons}
    assert a.verdict.status != "PASS"
    assert "clock_uncertainty" in codes, [(r.code, r.message) for r in a.verdict.reasons]
    assert a.verdict.status == "FAIL" and "leak" in codes and len(a.leaks) == 1


def test_declared_capture_skew_moves_a_leak_across_the_episode_end(rig_b, tmp_path):
    """The external capture declared on its own clock with a skew: its frames move as the
    clock model says (reference = t + offset + skew·(t − t0)), so its copy of the last
    leak lands after the episode's end and becomes a steady-state leak.  (µs syslog and
    a long steady state first: the boundary is narrow and the skew's lever long, so a
    clock rate within the accepted ±10000 ppm moves a frame across it.)"""
    src, truth = rig_b("weak-reconnect", "reconnect", system_log="short-iso-precise", steady_ms=2500)
    base = ksaudit.analyze(src, deep=False)
    (ep,) = [e for e in base.episodes if e.leaked_frames]
    ext = base.leaks[(base.leaks["capture"] == 1) & (base.leaks["rule"].astype(str) == "leak")]
    last = ext.iloc[-1]
    assert int(last.episode) == ep.id
    first_ext = int(ksaudit.read_packets(src / foreign.EXTERNAL_PCAP)["ts_ns"].min())
    need_ns = ep.end_hi_ns - int(last.ts_ns) + 1_000_000
    ppm = round(need_ns / (int(last.ts_ns) - first_ext) * 1e6, 1)
    d = tmp_path / "skew"
    sc = copy_of(src, d)
    sc["captures"][1]["clock"] = "uplink"
    sc["clocks"] = {"uplink": {"offset_ns": 0, "skew_ppm": ppm}}
    save(sc, d)
    a = ksaudit.analyze(d, deep=False)
    row = a.packets[(a.packets["capture"] == 1) & (a.packets["frame"] == int(last.frame))].iloc[0]
    moved = int(row.ts_ns) - int(last.ts_ns)
    # the skew's origin is the clock's start (its first frame, within a few ms)
    assert need_ns - 1_000_000 < moved < 1.5 * need_ns, (moved, need_ns)
    assert int(row.episode) == 0
    assert "steady_state_leak" in {r.code for r in a.verdict.reasons}
    # undeclared, the same frame stays where it was, in the episode
    assert int(base.packets[(base.packets["capture"] == 1)
                            & (base.packets["frame"] == int(last.frame))].iloc[0].episode) == ep.id


def test_capture_uncertainty_over_the_tolerance_is_inconclusive(rig_b, tmp_path):
    src, _ = rig_b("strong", "process-kill")
    d = tmp_path / "uncertain"
    sc = copy_of(src, d)
    sc["captures"][1]["clock"] = "uplink"
    sc["clocks"] = {"uplink": {"offset_ns": 0, "uncertainty_ns": 5_000_000}}   # 5 ms > 1000 µs
    save(sc, d)
    a = ksaudit.analyze(d, deep=False)
    assert a.verdict.status == "INCONCLUSIVE"
    msgs = [r.message for r in a.verdict.reasons if r.code == "clock_uncertainty"]
    assert msgs and any(foreign.EXTERNAL_PCAP in m for m in msgs)
    # within the tolerance it passes again: the rule is the uncertainty, not the clock name
    sc["clocks"]["uplink"]["uncertainty_ns"] = 500_000
    save(sc, d)
    assert ksaudit.analyze(d, deep=False).verdict.status == "PASS"


def test_truth_of_a_foreign_run_says_whose_rig_and_how_it_ended(rig_b):
    out, truth = rig_b("strong", "process-kill")
    with open(out / "lab-truth.json") as fh:
        assert json.load(fh)["rig"] == "foreign"
    assert [c["change"] for c in truth["teardown_changes"]] == ["tunnel_down", "process_stopped"]
