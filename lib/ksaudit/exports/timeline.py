"""A scenario's timeline for Timesketch (and the plaso users who read it there).

Every log event, every episode boundary and every leaked frame or reply, on the
reference clock, sorted by time, one row each.  Rows have Timesketch's required
fields -- ``message``, ``datetime`` (ISO 8601, UTC, microseconds),
``timestamp`` (integer microseconds since the epoch, the same instant) and
``timestamp_desc`` -- plus plaso-style ``data_type`` (``ksaudit:log:event``,
``ksaudit:episode:start`` / ``:end``, ``ksaudit:leak``) and source fields.  The exact
nanosecond time is kept in ``ts_ns``; ``clock`` names the clock the row's time came
from (a log event on a clock nothing ties to the reference keeps its own time and says
so in ``timestamp_desc``).  JSONL (one object per line, ``null`` where a
field does not apply) or CSV (the same columns, empty cells there), by the file's
extension, as Timesketch's importer requires (``.jsonl`` / ``.csv``).
"""

import csv
import heapq
import io
import json
import os
from datetime import datetime, timezone

from ksaudit.errors import KsauditError
from ksaudit.exports.output import atomic_output
from ksaudit.pcap.cli import PROTO_NAMES

COLUMNS = ("datetime", "timestamp", "timestamp_desc", "message", "data_type", "source",
           "ts_ns", "clock", "build", "scenario", "kind", "episode", "verdict", "rule", "category",
           "capture", "frame", "src", "dst", "sport", "dport", "proto", "line", "raw_ts",
           "t_lo_ns", "t_hi_ns")
FORMATS = {".jsonl": "jsonl", ".csv": "csv"}


def iso_us(ts_ns: int) -> str:
    """ISO 8601 UTC with microseconds (floor), e.g. ``2026-11-25T08:09:57.188400+00:00``."""
    us = ts_ns // 1000
    return datetime.fromtimestamp(us // 1_000_000, timezone.utc).replace(
        microsecond=us % 1_000_000).isoformat(timespec="microseconds")


def _row(ts_ns, desc, message, data_type, source, **fields) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(datetime=iso_us(ts_ns), timestamp=ts_ns // 1000, timestamp_desc=desc,
               message=message, data_type=data_type, source=source, ts_ns=ts_ns, **fields)
    return row


def _event_rows(analysis, common):
    ev = analysis.events.sort_values("ts_ns", kind="stable")
    unaligned = set(analysis.alignment.get("unaligned") or ())
    for r in ev.itertuples(index=False):
        kind, clock = str(r.kind), str(r.source_clock)
        desc = "Event Logged" + (" (clock not aligned)" if clock in unaligned else "")
        yield int(r.ts_ns), _row(
            int(r.ts_ns), desc, f"[{kind}] {r.message}", "ksaudit:log:event",
            str(r.file), clock=clock, kind=kind, line=int(r.line), raw_ts=str(r.raw_ts),
            t_lo_ns=int(r.t_lo_ns), t_hi_ns=int(r.t_hi_ns), **common)


def _episode_rows(analysis, common):
    rows, reference = [], analysis.alignment.get("reference")
    for ep in analysis.episodes:
        leaked = f"{ep.leaked_frames} leaked frame(s)" + (
            f", window {ep.window_ns // 1000} us" if ep.window_ns is not None else "")
        rows.append((ep.start_ns, _row(
            ep.start_ns, "Tunnel Down", f"episode {ep.id} start ({ep.verdict}: {leaked}); "
            f"evidence: {'; '.join(ep.start_evidence)}", "ksaudit:episode:start",
            "ksaudit analysis", clock=reference, kind="episode_start", episode=ep.id, verdict=ep.verdict,
            t_lo_ns=ep.start_band[0], t_hi_ns=ep.start_band[1], **common)))
        if ep.end_ns is not None:
            lo, hi = ep.end_band if ep.end_band else (ep.end_lo_ns, ep.end_hi_ns)
            rows.append((ep.end_ns, _row(
                ep.end_ns, "Tunnel Restored", f"episode {ep.id} end; evidence: "
                f"{'; '.join(ep.end_evidence)}", "ksaudit:episode:end", "ksaudit analysis",
                clock=reference, kind="episode_end", episode=ep.id, verdict=ep.verdict, t_lo_ns=lo,
                t_hi_ns=hi, **common)))
    return sorted(rows, key=lambda x: x[0])


def _leak_rows(analysis, common):
    files = [c["file"] for c in analysis.captures]
    reference = analysis.alignment.get("reference")   # capture times are put on it
    for r in analysis.leaks.itertuples(index=False):
        proto = PROTO_NAMES.get(int(r.proto), f"ip-{int(r.proto)}") if int(r.ip_version) else "non-ip"
        where = f"episode {int(r.episode)}" if int(r.episode) else "steady state"
        sport = f":{int(r.sport)}" if int(r.sport) >= 0 else ""
        dport = f":{int(r.dport)}" if int(r.dport) >= 0 else ""
        capture = files[int(r.capture)]
        yield int(r.ts_ns), _row(
            int(r.ts_ns), "Frame Captured", f"{r.rule}: {r.src}{sport} -> {r.dst}{dport} {proto} "
            f"({r.category}), {where}, {capture} frame {int(r.frame)}", "ksaudit:leak", capture,
            clock=reference, kind=str(r.rule), episode=int(r.episode) or None, rule=str(r.rule),
            category=str(r.category), capture=capture, frame=int(r.frame), src=str(r.src),
            dst=str(r.dst), sport=int(r.sport) if int(r.sport) >= 0 else None,
            dport=int(r.dport) if int(r.dport) >= 0 else None, proto=proto, **common)


def timeline_rows(analysis):
    """Every event, episode boundary and leak of an analysis as timeline rows, by time.

    Parameters
    ----------
    analysis : ksaudit.leaks.analysis.Analysis

    Returns
    -------
    iterator of dict
        Keys: `COLUMNS` (None where a field does not apply); events before episode
        boundaries before leaks at the same nanosecond.
    """
    common = {"build": analysis.scenario.build, "scenario": analysis.scenario.name}
    streams = [((ts, k, row) for ts, row in gen) for k, gen in enumerate(
        (_event_rows(analysis, common), _episode_rows(analysis, common),
         _leak_rows(analysis, common)))]
    # each stream is in time order; the counter keeps the merge off the dicts
    for _, _, row in heapq.merge(*streams, key=lambda x: (x[0], x[1])):
        yield row


def timeline_format(path) -> str:
    """'jsonl' or 'csv' by the extension of `path`; KsauditError for any other."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in FORMATS:
        raise KsauditError(f"-o {path}: unknown extension {ext or '(none)'!r}; Timesketch "
                           "imports .jsonl or .csv")
    return FORMATS[ext]


def write_timeline(analysis, path) -> int:
    """Write the timeline to `path` (JSONL or CSV by extension), atomically; the row count."""
    fmt = timeline_format(path)
    n = 0
    with atomic_output(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", newline="")
        if fmt == "csv":
            writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
        for row in timeline_rows(analysis):
            if fmt == "csv":
                writer.writerow(row)
            else:
                text.write(json.dumps(row) + "\n")
            n += 1
        text.flush()
        text.detach()
    return n
