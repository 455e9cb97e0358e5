"""Clock segments: stretches of one clock with one offset model.

A clock is split where its relation to the reference can jump: a new boot
(``boot_id`` changes), a resume from sleep (``wake``) and a clock step
(``clock_step``: "Time has been changed", journald realtime − monotonic jumps,
EVTX Kernel-General 1).  Splits closer than ``MERGE_NS`` are one split (a resume
logs several lines).  Events are assigned to segments by their source time;
after a backward clock step, times before the step are ambiguous and fall in
the later segment's range only if they are later than the split.
"""

import numpy as np
import pandas as pd

SPLIT_KINDS = ("wake", "clock_step")
MERGE_NS = 2 * 10**9


def split_points(events):
    """{clock: sorted int64 array of split times (source clock)} from an event table."""
    out = {}
    if not len(events):
        return out
    for clock, ev in events.groupby("source_clock", observed=True, sort=True):
        ts = ev["ts_ns"].to_numpy(dtype="int64")
        kinds = ev["kind"].astype(object).to_numpy()
        splits = list(ts[np.isin(kinds, SPLIT_KINDS)])
        boots = ev["boot_id"].to_numpy(dtype=object)
        known = boots != ""
        if known.any():
            order = np.argsort(ts[known], kind="stable")
            b = boots[known][order]
            t = ts[known][order]
            change = np.flatnonzero(b[1:] != b[:-1]) + 1
            splits.extend(t[change])
        out[str(clock)] = _merge(np.unique(np.asarray(splits, dtype="int64")))
    return out


def _merge(points):
    kept = []
    for p in points:
        if not kept or p - kept[-1] > MERGE_NS:
            kept.append(int(p))
    return np.asarray(kept, dtype="int64")


def segment_index(splits, ts_ns):
    """Per-clock segment number (0 = before the first split) of source times."""
    return np.searchsorted(splits, np.asarray(ts_ns, dtype="int64"), side="right").astype("int64")


def segment_table(splits, events):
    """One row per (clock, local segment) that holds events: ids, start/end on the source clock."""
    rows = []
    seg_id = 0
    for clock in sorted(splits):
        ev = events[events["source_clock"] == clock]
        ts = ev["ts_ns"].to_numpy(dtype="int64")
        local = segment_index(splits[clock], ts)
        edges = splits[clock]
        for k in range(len(edges) + 1):
            held = ts[local == k]
            start = int(edges[k - 1]) if k > 0 else (int(held.min()) if len(held) else None)
            end = int(edges[k]) if k < len(edges) else (int(held.max()) if len(held) else None)
            if start is None or end is None:
                if not len(held):
                    continue
            rows.append({"clock": clock, "local": k, "segment": seg_id,
                         "start_ns": start, "end_ns": end, "events": int(len(held))})
            seg_id += 1
    return pd.DataFrame(rows, columns=["clock", "local", "segment", "start_ns", "end_ns", "events"])
