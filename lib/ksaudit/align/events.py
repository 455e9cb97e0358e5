"""Put every event on the reference clock, with an honest uncertainty.

Per clock segment (see ``segments``) the map source → reference comes from,
in order of preference: the reference clock itself (identity), a declared
offset (scenario.yaml ``clocks: {name: {offset_ns: N}}``: true time = clock
time + N, so reference = source + N − N_reference), or anchors fitted by a lower envelope (see
``envelope.fit_lower_envelope``): self-timestamped probe packets (send stamp in
the payload vs capture stamp), probe-log lines paired with their packets, or
anchors the caller supplies.  A segment with none of these is *not aligned*:
its events keep their source times, their interval is widened by
``UNALIGNED_NS`` and the clock is listed in ``Alignment.unaligned``.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ksaudit.align.clocks import parse_clocks, relative_model
from ksaudit.align.envelope import MIN_ANCHORS, FitResult, fit_lower_envelope
from ksaudit.align.segments import assign, segment_table
from ksaudit.errors import KsauditError

# "anywhere" (~73 years): the uncertainty of a clock nothing ties to the reference; small
# enough that t_hi_ns - t_lo_ns (2 * UNALIGNED_NS + quantum) still fits in int64
UNALIGNED_NS = 2**61
SEGMENT_COLUMNS = ["clock", "segment", "start_ns", "end_ns", "model", "offset_ns", "skew_ppm",
                   "anchors", "residual_min_ns", "residual_max_ns", "uncertainty_ns", "events",
                   "anchor_source", "note"]
_NEEDED = ("ts_ns", "t_lo_ns", "t_hi_ns", "source_clock", "kind", "boot_id")


@dataclass(frozen=True, eq=False)
class Alignment:
    """Result of ``align``.

    Attributes
    ----------
    events : DataFrame
        Aligned copy: ts_ns/t_lo_ns/t_hi_ns on the reference clock, src_ts_ns
        the original time, segment the segment id.
    segments : DataFrame
        SEGMENT_COLUMNS, one row per clock segment.
    uncertainty_ns : int
        Widest model uncertainty of any segment holding events (excludes the
        events' own quantum, which t_lo_ns/t_hi_ns include).
    reference : str
    unaligned : tuple of str
        Clocks with at least one segment nothing ties to the reference.
    """
    events: pd.DataFrame
    segments: pd.DataFrame
    uncertainty_ns: int
    reference: str
    unaligned: tuple = field(default_factory=tuple)

    def to_dict(self):
        """JSON-safe summary: reference, uncertainty, unaligned clocks, segments."""
        segs = []
        for row in self.segments.to_dict("records"):
            segs.append({k: (int(v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                             else float(v) if isinstance(v, (float, np.floating))
                             else str(v)) for k, v in row.items()})
        return {"reference": self.reference, "uncertainty_ns": int(self.uncertainty_ns),
                "unaligned": list(self.unaligned), "segments": segs}


def align(events, packets=None, clocks=None, reference="device", probe_clock=None,
          anchors=None, skew=True, pivot_ns=None):
    """Map events onto the reference clock, per clock segment.

    Parameters
    ----------
    events : DataFrame
        An event table from ``read_events`` (source-clock times).
    packets : DataFrame or None
        Packet table of the reference capture; rows with ``probe_seq`` ≥ 0 and
        ``probe_send_ns`` are probe anchors (send stamp vs capture ``ts_ns``).
    clocks : mapping or None
        scenario.yaml ``clocks``: {name: {offset_ns: N[, skew_ppm: P][, uncertainty_ns: U]}}
        or {name: ClockModel} (see ``ksaudit.align.clocks``); a clock maps to the
        reference by its model minus the reference's own (if declared).  The
        reference clock itself is the identity; declared clocks are not fitted.
    reference : str
        Name of the reference clock (the primary capture's clock).
    probe_clock : str or None
        Clock of the probe payload stamps; default: the clock of the probe-log
        events if any, else "device".
    anchors : DataFrame / list of mappings or None
        Extra one-sided anchors: columns ``clock``, ``src_ns``, ``ref_ns``
        (ref_ns is the reference time, never earlier than the true moment).
    skew : bool
        Allow offset+skew models (else offset only).
    pivot_ns : int or None
        Where a declared clock's offset holds (its skew turns about it); the
        analysis gives the reference capture's first frame, so that frames and
        events on one clock move alike.  Default: the clock's earliest event.

    Returns
    -------
    Alignment
    """
    missing = [c for c in _NEEDED if c not in events]
    if missing:
        raise KsauditError(f"align: the event table lacks column(s) {missing}")
    ev = events.copy()
    ev.attrs = dict(events.attrs)
    clock_of = ev["source_clock"].astype(object).astype(str).to_numpy()
    declared = parse_clocks(clocks)
    local, per_clock = assign(ev)
    table = segment_table(local, per_clock, ev)
    pool = _anchor_pool(ev, clock_of, packets, probe_clock, anchors)

    ts = ev["ts_ns"].to_numpy(dtype="int64")
    lo = ev["t_lo_ns"].to_numpy(dtype="int64")
    hi = ev["t_hi_ns"].to_numpy(dtype="int64")
    new_ts, new_lo, new_hi = ts.copy(), lo.copy(), hi.copy()
    seg_col = np.full(len(ev), -1, dtype="int64")
    rows, unaligned = [], set()
    for seg in table.to_dict("records"):
        clock, k = seg["clock"], seg["local"]
        mask = (clock_of == clock) & (local == k)
        seg_col[mask] = seg["segment"]
        ax, ay, source = pool.get(clock, (np.zeros(0, "int64"), np.zeros(0, "int64"), ""))
        in_seg = per_clock[clock].index_by_time(ax) == k
        ax, ay = ax[in_seg], ay[in_seg]
        row = {"clock": clock, "segment": seg["segment"], "start_ns": seg["start_ns"],
               "end_ns": seg["end_ns"], "events": int(mask.sum()), "anchors": int(len(ax)),
               "anchor_source": source if len(ax) else "", "skew_ppm": 0.0,
               "residual_min_ns": 0, "residual_max_ns": 0}
        overlap = (" (the clock stepped back: rows of other files and anchors were assigned "
                   "to segments by time, which is ambiguous)") if seg["overlapping"] else ""
        if clock == reference:
            row.update(model="none", offset_ns=0, uncertainty_ns=0, note="reference clock")
        elif clock in declared:
            model = relative_model(declared, clock, reference)
            pivot = int(pivot_ns) if pivot_ns is not None else int(ts[clock_of == clock].min())
            fit = FitResult("offset+skew" if model.skew_ppm else "offset", pivot,
                            model.offset_ns, model.skew_ppm, 0, seg["start_ns"],
                            seg["end_ns"], 0, model.uncertainty_ns)
            _apply(fit, mask, ts, lo, hi, new_ts, new_lo, new_hi, grow=False)
            row.update(model="declared", offset_ns=int(fit.offset_at(seg["start_ns"])),
                       skew_ppm=model.skew_ppm, uncertainty_ns=model.uncertainty_ns,
                       note="declared in scenario clocks")
            if len(ax):
                d = (ay - ax) - fit.offset_at(ax)
                row["residual_max_ns"] = int(d.max())
                row["residual_min_ns"] = int(d.min())
                if d.min() < -model.uncertainty_ns:
                    row["note"] += (f"; {int((d < 0).sum())} anchors contradict it "
                                    f"(capture before send by up to {int(-d.min())} ns)")
        elif len(ax) >= MIN_ANCHORS:
            fit = fit_lower_envelope(ax, ay, skew=skew)
            _apply(fit, mask, ts, lo, hi, new_ts, new_lo, new_hi, grow=True)
            span = np.array([seg["start_ns"], seg["end_ns"]], dtype="int64")
            row.update(model=fit.model, offset_ns=int(fit.offset_at(span[:1])[0]),
                       skew_ppm=float(fit.skew_ppm), residual_max_ns=fit.residual_max_ns,
                       uncertainty_ns=int(fit.error_ns(span).max()),
                       note=f"lower envelope of {fit.anchors} anchors")
        else:
            unaligned.add(clock)
            new_lo[mask] = lo[mask] - UNALIGNED_NS
            new_hi[mask] = hi[mask] + UNALIGNED_NS
            row.update(model="none", offset_ns=0, uncertainty_ns=UNALIGNED_NS,
                       note=f"not aligned: no declared offset and {len(ax)} anchors "
                            f"(need {MIN_ANCHORS})")
        row["note"] += overlap
        rows.append(row)
    ev["src_ts_ns"] = ts
    ev["ts_ns"], ev["t_lo_ns"], ev["t_hi_ns"], ev["segment"] = new_ts, new_lo, new_hi, seg_col
    segments = pd.DataFrame(rows, columns=SEGMENT_COLUMNS)
    for col in ("segment", "start_ns", "end_ns", "offset_ns", "anchors", "residual_min_ns",
                "residual_max_ns", "uncertainty_ns", "events"):
        segments[col] = segments[col].astype("int64")
    held = segments[segments["events"] > 0]
    widest = int(held["uncertainty_ns"].max()) if len(held) else 0
    return Alignment(events=ev, segments=segments, uncertainty_ns=widest, reference=reference,
                     unaligned=tuple(sorted(unaligned)))


def _apply(fit, mask, ts, lo, hi, new_ts, new_lo, new_hi, grow):
    if not mask.any():
        return
    new_ts[mask] = ts[mask] + fit.offset_at(ts[mask])
    err_lo = fit.error_ns(lo[mask]) if grow else fit.bound_ns
    err_hi = fit.error_ns(hi[mask]) if grow else fit.bound_ns
    new_lo[mask] = lo[mask] + fit.offset_at(lo[mask]) - err_lo
    new_hi[mask] = hi[mask] + fit.offset_at(hi[mask]) + err_hi


def _anchor_pool(ev, clock_of, packets, probe_clock, extra):
    """{clock: (x_ns, y_ns, source text)} of one-sided anchors."""
    pool = {}
    is_probe = (ev["kind"].astype(object) == "probe").to_numpy()
    if probe_clock is None:
        probe_clock = (pd.Series(clock_of[is_probe]).mode().iloc[0] if is_probe.any() else "device")
    if packets is not None and len(packets) and "probe_seq" in packets:
        p = packets[packets["probe_seq"].to_numpy() >= 0]
        if len(p):
            first = p.sort_values("ts_ns", kind="stable").drop_duplicates("probe_seq")
            if "probe_send_ns" in first:
                ok = first["probe_send_ns"].to_numpy(dtype="int64") > 0
                x = first["probe_send_ns"].to_numpy(dtype="int64")[ok]
                y = first["ts_ns"].to_numpy(dtype="int64")[ok]
                if len(x):
                    pool[probe_clock] = (x, y, "probe packets")
            # probe-log lines paired with their packets, for clocks without payload anchors
            if is_probe.any() and "probe_seq" in ev:
                cap = dict(zip(first["probe_seq"].to_numpy(), first["ts_ns"].to_numpy()))
                logs = ev[is_probe & (ev["probe_result"].astype(object) == "sent").to_numpy()]
                for clock in set(clock_of[is_probe]) - set(pool):
                    mine = logs[logs["source_clock"].astype(object).astype(str) == clock]
                    pairs = [(t, cap[s]) for t, s in zip(mine["ts_ns"], mine["probe_seq"]) if s in cap]
                    if pairs:
                        xy = np.asarray(pairs, dtype="int64")
                        pool[clock] = (xy[:, 0], xy[:, 1], "probe log paired with packets")
    if extra is not None:
        extra = pd.DataFrame(extra)
        for col in ("clock", "src_ns", "ref_ns"):
            if col not in extra:
                raise KsauditError(f"align: anchors need columns clock, src_ns, ref_ns (missing {col})")
        for clock, grp in extra.groupby("clock", sort=True):
            try:
                x = grp["src_ns"].to_numpy(dtype="int64")
                y = grp["ref_ns"].to_numpy(dtype="int64")
            except (TypeError, ValueError, OverflowError) as exc:
                raise KsauditError(f"align: anchors of clock {clock!r}: src_ns and ref_ns must "
                                   f"be integer ns ({exc})") from exc
            if clock in pool:
                px, py, src = pool[clock]
                pool[clock] = (np.concatenate([px, x]), np.concatenate([py, y]), src + " + given anchors")
            else:
                pool[clock] = (x, y, "given anchors")
    return pool
