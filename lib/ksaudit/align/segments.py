"""Clock segments: stretches of one clock with one offset model.

A clock is split where its relation to the reference can jump: a new boot
(``boot_id`` changes), a resume from sleep (``wake``) and a clock step
(``clock_step``: "Time has been changed", journald realtime − monotonic jumps,
EVTX Kernel-General 1).  Splits within ``MERGE_NS`` of the previous one are the
same split (a resume logs several lines).

Record order, not time order, decides: after a backward step the new segment's
times overlap the old one's, so rows of the file that logged the splits are
assigned by their line order.  Rows of other files on the same clock (and
anchors) have only their time: they go to the last segment (in split order)
that starts at or before it; after a backward step that choice is ambiguous,
and ``Segments.overlapping`` says so.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

SPLIT_KINDS = ("wake", "clock_step")
MERGE_NS = 2 * 10**9


@dataclass(frozen=True)
class ClockSegments:
    """The splits of one clock, in the order they happened."""
    clock: str
    starts: np.ndarray      # int64 source-clock time each segment (after the first) starts
    overlapping: bool       # the clock went backwards across a split (times overlap)

    def index_by_time(self, ts_ns):
        """Segment number of source times: the last segment starting at or before each."""
        ts = np.asarray(ts_ns, dtype="int64")
        out = np.zeros(ts.shape, dtype="int64")
        for k, start in enumerate(self.starts, 1):
            out[ts >= start] = k
        return out


def assign(events):
    """Per-row segment number (per clock) and {clock: ClockSegments} for an event table.

    ``events`` needs ts_ns, kind, boot_id, source_clock and preferably file, line
    (without them the rows count as one file in table order).
    """
    n = len(events)
    local = np.zeros(n, dtype="int64")
    result = {}
    if not n:
        return local, result
    clocks = events["source_clock"].astype(object).astype(str).to_numpy()
    files = (events["file"].astype(object).astype(str).to_numpy() if "file" in events
             else np.full(n, "", dtype=object))
    ts = events["ts_ns"].to_numpy(dtype="int64")
    lines = (events["line"].to_numpy(dtype="int64") if "line" in events
             else np.arange(1, n + 1, dtype="int64"))
    kinds = events["kind"].astype(object).to_numpy()
    boots = events["boot_id"].astype(object).to_numpy()
    for clock in sorted(set(clocks)):
        rows = np.flatnonzero(clocks == clock)
        split_rows = []                       # (file, line, ts) of each split, per file
        backwards = False
        for name in sorted(set(files[rows])):
            mine = rows[files[rows] == name]
            mine = mine[np.lexsort((ts[mine], lines[mine]))]
            backwards |= bool((np.diff(ts[mine]) < -MERGE_NS).any())
            is_split = np.isin(kinds[mine], SPLIT_KINDS)
            known = boots[mine] != ""
            if known.sum() > 1:
                kb = mine[known]
                change = np.zeros(len(mine), bool)
                change[np.flatnonzero(known)[1:]] = boots[kb][1:] != boots[kb][:-1]
                is_split |= change
            split_rows.extend((name, int(lines[r]), int(ts[r])) for r in mine[is_split])
        carriers = {f for f, _, _ in split_rows}
        if len(carriers) > 1:                 # several files: only their times can order them
            split_rows.sort(key=lambda s: s[2])
        starts, seq_of = [], {}
        for f, line, t in split_rows:
            if not starts or abs(t - starts[-1]) > MERGE_NS:
                starts.append(t)
            seq_of.setdefault((f, line), len(starts))
        segs = ClockSegments(clock, np.asarray(starts, dtype="int64"), backwards and bool(starts))
        result[clock] = segs
        for name in sorted(set(files[rows])):
            mine = rows[files[rows] == name]
            if name in carriers and len(carriers) == 1 and len(set(lines[mine])) > 1:
                marks = sorted((line, k) for (f, line), k in seq_of.items() if f == name)
                mark_lines = np.array([m[0] for m in marks], dtype="int64")
                mark_seq = np.array([m[1] for m in marks], dtype="int64")
                pos = np.searchsorted(mark_lines, lines[mine], side="right")
                local[mine] = np.where(pos > 0, mark_seq[np.maximum(pos - 1, 0)], 0)
            else:
                local[mine] = segs.index_by_time(ts[mine])
    return local, result


def segment_table(local, result, events):
    """One row per (clock, segment) holding events: global id, start/end (source clock)."""
    clocks = events["source_clock"].astype(object).astype(str).to_numpy()
    ts = events["ts_ns"].to_numpy(dtype="int64")
    rows, seg_id = [], 0
    for clock in sorted(result):
        segs = result[clock]
        for k in range(len(segs.starts) + 1):
            held = ts[(clocks == clock) & (local == k)]
            if not len(held) and k == 0:
                continue
            start = int(segs.starts[k - 1]) if k > 0 else int(held.min())
            end = int(held.max()) if len(held) else start
            if k < len(segs.starts) and segs.starts[k] > start:
                end = max(end, int(segs.starts[k]))
            rows.append({"clock": clock, "local": k, "segment": seg_id, "start_ns": start,
                         "end_ns": end, "events": int(len(held)),
                         "overlapping": segs.overlapping})
            seg_id += 1
    return pd.DataFrame(rows, columns=["clock", "local", "segment", "start_ns", "end_ns",
                                       "events", "overlapping"])
