"""The real captures the lab recorded (captures/samples): every frame agrees with tshark."""

import json
import pathlib

import pytest

from ksaudit.pcap import capture_info, read_packets

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLES = sorted(p for p in (ROOT / "captures" / "samples").glob("*/*/*.pcap*")
                 if "regenerat" not in p.parts[-3])    # the lab rewrites a build in a side dir


@pytest.mark.skipif(not SAMPLES, reason="no lab samples under captures/samples")
@pytest.mark.parametrize("path", SAMPLES[:6], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_lab_capture_matches_tshark(path, crosscheck):
    if not path.exists():
        pytest.skip(f"{path} vanished (the lab is regenerating the samples)")
    df = read_packets(path)
    assert len(df) > 0
    crosscheck(path, df)
    info = capture_info(path)
    assert info.packets == len(df) and not info.truncated
    assert info.first_ns == df["ts_ns"].min() and info.last_ns == df["ts_ns"].max()


def _probe_log(scenario_dir):
    """seq -> (ts_ns, result) of the scenario's probe log (DESIGN.md "Probes")."""
    log = scenario_dir / "logs" / "probes.jsonl"
    if not log.exists():
        return None
    rows = (json.loads(line) for line in log.read_text().splitlines() if line.strip())
    return {r["seq"]: (r["ts_ns"], r["result"]) for r in rows}


@pytest.mark.skipif(not SAMPLES, reason="no lab samples under captures/samples")
def test_lab_probes_are_the_attempts_of_the_probe_log():
    """Each decoded probe payload (``KSAPROBE <seq> <send_ts_ns>``) is an attempt the
    generator logged as sent, with the send time it logged, and was captured after it
    was sent (a capture follows the send: the delay is one-sided) on the lab's one clock."""
    decoded = 0
    for path in SAMPLES:
        log = _probe_log(path.parent) if path.exists() else None
        if log is None:
            continue
        df = read_packets(path)
        probes = df[df["probe_seq"] >= 0]
        for seq, sent, ts in probes[["probe_seq", "probe_send_ns", "ts_ns"]].itertuples(
                index=False):
            where = f"{path.parent.name}/{path.name} probe {seq}"
            assert seq in log, where
            assert log[seq] == (sent, "sent"), where
            assert 0 < ts - sent < 1_000_000_000, where
        decoded += len(probes)
    assert decoded, "no probe payload decoded in any lab sample with a probe log"
