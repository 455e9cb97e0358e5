"""analyze() on the lab's bundled sample build, checked against the lab's own truth.

The truth comes from the lab's sink (which probes arrived from outside the
tunnel), not from re-classifying the capture; the windows are checked against
the frame timestamps read independently from the captures.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from ksaudit import analyze, read_packets

SAMPLES = Path(__file__).resolve().parents[2] / "captures" / "samples" / "2026.11.0-lab"
DIRS = sorted(p.parent for p in SAMPLES.glob("*/lab-truth.json")) if SAMPLES.is_dir() else []


def _truth_outside(truth):
    seqs = set()
    for part in truth["trials"] + [truth.get("steady_state", {})]:
        seqs |= set(part.get("outside_seqs", []))
    return seqs


@pytest.fixture(scope="module")
def analyses():
    return {d.name: analyze(d, deep=False) for d in DIRS}


@pytest.mark.skipif(not DIRS, reason=f"no lab samples under {SAMPLES}")
@pytest.mark.parametrize("scn", [d.name for d in DIRS])
def test_lab_sample_matches_the_sink(analyses, scn):
    root = SAMPLES / scn
    truth = json.loads((root / "lab-truth.json").read_text())
    a = analyses[scn]
    codes = {r.code for r in a.verdict.reasons}
    assert a.verdict.status == truth["expected_verdict"], a.verdict.reasons
    assert set(truth.get("expected_reasons", [])) <= codes

    leaked = a.leaks[(a.leaks["rule"].astype(str) == "leak") & (a.leaks["probe_seq"] >= 0)]
    found = set(leaked["probe_seq"].astype(int))
    outside = _truth_outside(truth)
    assert outside <= found, f"missed probes the sink received: {sorted(outside - found)[:10]}"
    assert found <= outside, f"probes called leaked that the sink never saw: {sorted(found - outside)[:10]}"

    # independent read of the captures: the frames that carried the leaked probes
    phys = set(a.scenario.physical_interfaces)
    ts = []
    for spec in a.scenario.captures:
        t = read_packets(root / spec.file, ifindex=a.scenario.ifindex or None)
        rows = t["probe_seq"].isin(sorted(outside)).to_numpy()
        if spec.vantage == "device":
            rows = rows & t["iface"].astype(str).isin(phys).to_numpy()
        ts.append(t.loc[rows, "ts_ns"].to_numpy())
    ts = np.concatenate(ts) if ts else np.array([], np.int64)
    with_leaks = [e for e in a.episodes if e.leaked_frames]
    if not outside:
        assert not with_leaks and not len(ts)
        return
    only_probes = all(e.categories["dns"] == 0 for e in with_leaks)
    first = min(e.first_leak_ns for e in with_leaks)
    last = max(e.last_leak_ns for e in with_leaks)
    if a.steady_state["leaked_frames"]:
        first = min(first, a.steady_state["first_leak_ns"])
        last = max(last, a.steady_state["last_leak_ns"])
    if only_probes:
        assert (first, last) == (int(ts.min()), int(ts.max()))
    else:
        assert first <= int(ts.min()) and last >= int(ts.max())
    for e in with_leaks:
        assert e.window_ns == e.last_leak_ns - e.first_leak_ns
        assert e.to_dict()["window_us"] == e.window_ns // 1000
        rows = a.leaks[(a.leaks["episode"] == e.id) & (a.leaks["rule"].astype(str) == "leak")]
        assert e.first_leak_ns == int(rows["ts_ns"].min())
        assert e.last_leak_ns == int(rows["ts_ns"].max())
    for trial in truth["trials"]:
        if trial.get("first_leak_arrival_ns"):
            # the captures see a leak before the sink receives it (same host clock)
            assert first <= trial["first_leak_arrival_ns"]
