"""`ksaudit timeline`: JSONL and CSV that Timesketch's own importer functions read
(timesketch.lib.utils), checked also against the importer's rules as written in its
docs and code: message, datetime (ISO 8601), timestamp (µs, int), timestamp_desc on
every row, .jsonl / .csv names."""

import csv
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

import ksaudit
from ksaudit.exports.timeline import COLUMNS, iso_us

SAMPLE = Path(__file__).resolve().parents[2] / "captures/samples/2026.11.0-lab/none-process-kill"
REQUIRED = ("message", "datetime", "timestamp", "timestamp_desc")


def timeline(*args):
    return subprocess.run([sys.executable, "-m", "ksaudit.cli", "timeline", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    d = tmp_path_factory.mktemp("timeline")
    for name in ("t.jsonl", "t.csv"):
        proc = timeline(SAMPLE, "-o", d / name)
        assert proc.returncode == 0, proc.stderr
    return d / "t.jsonl", d / "t.csv", ksaudit.analyze(SAMPLE, deep=False)


def timesketch_shaped(row):
    """What Timesketch needs of each event (docs/guides/user/import-from-json-csv.md and
    timesketch/lib/utils.py): the mandatory fields, an ISO 8601 datetime, and a
    microsecond epoch timestamp that is that same instant."""
    missing = [k for k in REQUIRED if row.get(k) in (None, "")]
    assert not missing, (missing, row)
    assert isinstance(row["message"], str) and isinstance(row["timestamp_desc"], str)
    when = datetime.fromisoformat(row["datetime"])
    assert when.utcoffset().total_seconds() == 0 and len(row["datetime"].split(".")[1]) == 12
    assert int(row["timestamp"]) == (when - datetime(1970, 1, 1, tzinfo=timezone.utc)) \
        // pd.Timedelta(microseconds=1)


def test_jsonl_rows_are_every_event_boundary_and_leak(written):
    jsonl, _, analysis = written
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    for row in rows:
        timesketch_shaped(row)
        assert list(row) == list(COLUMNS) and isinstance(row["timestamp"], int)
        assert row["timestamp"] == row["ts_ns"] // 1000
    assert [r["ts_ns"] for r in rows] == sorted(r["ts_ns"] for r in rows)
    kinds = pd.Series([r["data_type"] for r in rows]).value_counts().to_dict()
    ends = sum(ep.end_ns is not None for ep in analysis.episodes)
    assert kinds == {"ksaudit:log:event": len(analysis.events), "ksaudit:leak": len(analysis.leaks),
                     "ksaudit:episode:start": len(analysis.episodes), "ksaudit:episode:end": ends}
    leaks = {(r["capture"], r["frame"]) for r in rows if r["data_type"] == "ksaudit:leak"}
    files = [c["file"] for c in analysis.captures]
    assert leaks == {(files[c], f) for c, f in zip(analysis.leaks["capture"], analysis.leaks["frame"])}
    [start] = [r for r in rows if r["data_type"] == "ksaudit:episode:start"]
    assert start["ts_ns"] == analysis.episodes[0].start_ns and start["verdict"] == "FAIL"
    assert start["timestamp_desc"] == "Tunnel Down" and start["episode"] == 1


def test_csv_has_the_same_rows(written):
    jsonl, csv_path, _ = written
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    with open(csv_path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == COLUMNS
        table = list(reader)
    assert len(table) == len(rows)
    for j, c in zip(rows, table):
        timesketch_shaped(c)
        assert c == {k: "" if v is None else str(v) for k, v in j.items()}


def test_timesketch_importer_reads_both(written):
    utils = pytest.importorskip("timesketch.lib.utils", reason="timesketch (.ci/install) absent")
    jsonl, csv_path, _ = written
    ours = [json.loads(line) for line in jsonl.read_text().splitlines()]
    with open(jsonl, encoding="utf-8") as fh:
        got = list(utils.read_and_validate_jsonl(fh))
    assert got == ours
    with open(csv_path, encoding="utf-8") as fh:
        events = list(utils.read_and_validate_csv(fh))
    # the importer recomputes timestamp from datetime: the two agree on every row
    assert [e["timestamp"] for e in events] == [r["timestamp"] for r in ours]
    assert [e["message"] for e in events] == [r["message"] for r in ours]
    assert all(e["timestamp_desc"] for e in events)


def test_iso_us_floors_to_the_microsecond():
    assert iso_us(1_795_594_197_188_228_367) == "2026-11-25T08:09:57.188228+00:00"
    assert iso_us(0) == "1970-01-01T00:00:00.000000+00:00"


def test_bad_names_are_one_line(tmp_path):
    for target in (tmp_path / "t.json", tmp_path / "t", tmp_path / "no" / "dir" / "t.csv"):
        proc = timeline(SAMPLE, "-o", target)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith("ksaudit: error: -o ") and not target.exists()
    proc = timeline(tmp_path / "nowhere", "-o", tmp_path / "t.csv")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_events_on_an_unaligned_clock_say_so(builder, tmp_path):
    from leak_builder import window
    builder.probes_run(0, 2000, window(1000, 1200))
    builder.down_up(1000, 1200)
    root = builder.write(logs=[{"file": "logs/journal.json", "format": "journald-json",
                                "clock": "laptop"},
                               {"file": "logs/probes.jsonl", "format": "ksaudit-probe"}])
    assert timeline(root, "-o", tmp_path / "t.jsonl").returncode == 0
    rows = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    journal = [r for r in rows if r["source"] == "logs/journal.json"]
    probes = [r for r in rows if r["source"] == "logs/probes.jsonl"]
    assert journal and all(r["timestamp_desc"] == "Event Logged (clock not aligned)"
                           and r["clock"] == "laptop" for r in journal)
    assert probes and all(r["timestamp_desc"] == "Event Logged" for r in probes)
    assert {r["clock"] for r in rows if r["data_type"] != "ksaudit:log:event"} == {"device"}
