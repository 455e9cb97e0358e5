"""The events users report (boot, network-change to a second LAN, disconnect), run in the
lab with the harness client and judged twice: by the sink's truth and by `analyze`."""

import pytest
import yaml

from ksaudit import analyze
from ksaudit.lab import topology

from .test_lab_runs import lab_run

pytestmark = pytest.mark.lab


def _leaked_seqs(a):
    leaked = a.leaks[(a.leaks["rule"].astype(str) == "leak") & (a.leaks["probe_seq"] >= 0)]
    return set(leaked["probe_seq"].astype(int))


def _truth_seqs(truth):
    return {s for part in truth["trials"] + [truth["steady_state"]] for s in part["outside_seqs"]}


def _judged(out, truth):
    """analyze's verdict, checked against the truth's, and the leaked probes the same set."""
    a = analyze(out, deep=False)
    assert a.verdict.status == truth["expected_verdict"], (a.verdict.reasons, a.notes)
    assert _leaked_seqs(a) == _truth_seqs(truth)
    return a


@pytest.mark.parametrize("event", ["boot", "network-change", "disconnect"])
def test_without_kill_switch_the_event_leaks_and_fails(lab, tmp_path, event):
    out, truth = lab_run(tmp_path, event, "none")
    (trial,) = truth["trials"]
    assert truth["expected_verdict"] == "FAIL" and trial["leaked_probes"] >= 5
    assert truth["steady_state"]["leaked_probes"] == 0
    a = _judged(out, truth)
    assert [r.code for r in a.verdict.reasons if r.code in ("leak", "steady_state_leak")] == ["leak"]
    if event == "network-change":       # it left from the second LAN, seen on the mirror port
        assert trial["leak_sources"] == [topology.DEV2_ADDR]
        by_capture = {b["capture"] for ep in a.episodes for b in ep.by_capture}
        assert by_capture == {"device.pcap", "external.pcap"}


@pytest.mark.parametrize("event", ["boot", "network-change", "disconnect"])
def test_strong_kill_switch_leaks_nothing_and_passes(lab, tmp_path, event):
    out, truth = lab_run(tmp_path, event, "strong", ipv6=True)
    assert truth["expected_verdict"] == "PASS", truth["expected_reasons"]
    a = _judged(out, truth)
    assert a.verdict.status == "PASS" and len(a.episodes) == 1
    (ep,) = a.episodes
    assert ep.probes["attempted"] > 0 and ep.probes["leaked"] == 0
    if event == "boot":                 # the episode runs from before the network came up
        (trial,) = truth["trials"]
        assert ep.start_ns < trial["down_ns"] and "boot" in " ".join(ep.notes)


@pytest.mark.parametrize("promise, verdict", [(True, "FAIL"), (False, "INCONCLUSIVE")])
def test_disconnect_verdict_follows_the_promise(lab, tmp_path, promise, verdict):
    out, truth = lab_run(tmp_path, "disconnect", "none", blocks_when_disconnected=promise)
    with open(out / "scenario.yaml") as fh:
        assert yaml.safe_load(fh)["vpn"]["blocks_when_disconnected"] is promise
    (trial,) = truth["trials"]
    assert trial["leaked_probes"] >= 5 and trial["promised"] is promise      # it leaked anyway
    assert truth["expected_verdict"] == verdict
    a = _judged(out, truth)
    (ep,) = a.episodes
    assert ep.leaked_frames >= 5 and ep.promised is promise
