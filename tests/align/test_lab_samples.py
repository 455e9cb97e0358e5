"""Alignment on real lab output (captures/samples, written by `ksaudit lab`)."""

from pathlib import Path

import pytest
import yaml

import ksaudit

SAMPLES = Path(__file__).resolve().parents[2] / "captures" / "samples"
DIRS = sorted(p.parent for p in SAMPLES.glob("*/*/scenario.yaml")
              if not p.parent.parent.name.endswith(".regenerating")) if SAMPLES.exists() else []


def _load(directory):
    sc = yaml.safe_load((directory / "scenario.yaml").read_text())
    logs = [{**entry, "file": str(directory / entry["file"])} for entry in sc["logs"]]
    return sc, ksaudit.read_events(logs), ksaudit.read_packets(directory / sc["captures"][0]["file"])


@pytest.mark.skipif(not DIRS, reason="no lab samples under captures/samples")
@pytest.mark.parametrize("directory", DIRS, ids=[d.name for d in DIRS])
def test_lab_sample_reads_and_aligns(directory):
    sc, events, packets = _load(directory)
    facts = events.attrs["files"]
    assert all(f.malformed == 0 for f in facts), facts
    assert "tunnel_down" in set(events["kind"]) or "process_exit" in set(events["kind"])
    # the scenario's own declaration: identity, no uncertainty
    declared = ksaudit.align(events, packets, clocks=sc.get("clocks"), reference="device")
    assert declared.uncertainty_ns == 0 and declared.unaligned == ()
    assert (declared.events["ts_ns"] == declared.events["src_ts_ns"]).all()
    # treat the capture clock as unknown: the probes alone must tie the clocks within 100 µs
    fitted = ksaudit.align(events, packets, reference="capture", probe_clock="device")
    if (packets["probe_seq"] >= 0).sum() >= 3:
        segs = fitted.segments
        assert set(segs["model"]) <= {"offset", "offset+skew"}
        # same host, same clock: the true offset is 0; the estimate adds the (unseen)
        # smallest send->capture delay, a few µs, and its bound must reach 0
        lo = segs["offset_ns"] - segs["uncertainty_ns"]
        hi = segs["offset_ns"] + segs["uncertainty_ns"]
        assert ((lo <= 100_000) & (hi >= 0)).all(), segs
        assert fitted.uncertainty_ns < 1_000_000
    else:
        assert fitted.unaligned == ("device",)
