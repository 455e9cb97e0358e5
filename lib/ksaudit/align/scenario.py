"""One scenario on the reference clock: its events, then its other captures, by one model.

The reference clock is the first capture's clock; every declared clock model turns about
one pivot, the reference capture's first frame.  Events are aligned first (`align`,
anchored on the reference capture's probe packets); captures on other clocks then move
by their clock's declared model, or by their own probe packets per segment of that clock
(`place_capture`).  Every clock whose uncertainty is unknown or wider than the
scenario's tolerance is a ``clock_uncertainty`` reason: a 40 ppm skew over an hour is
144 ms, and a declared ``uncertainty_ns`` is weighed like a fitted one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ksaudit.align.captures import place_capture
from ksaudit.align.events import align
from ksaudit.reasons import Reason

_TIME_FACTS = ("first_ns", "last_ns", "truncated_at_ns")


@dataclass(frozen=True, eq=False)
class TimeBase:
    """Captures and events on the reference clock, how they got there, and what it costs."""
    reference: str
    pivot_ns: int
    packets: pd.DataFrame
    events: pd.DataFrame | None
    captures: tuple            # the caller's capture records, time facts moved alike
    placements: tuple          # CapturePlacement per present capture
    alignment: object          # Alignment of the events, or None without events
    uncertainty_ns: int        # widest known model uncertainty (events and captures)
    reasons: tuple             # Reason
    notes: tuple

    def to_dict(self) -> dict:
        """The analysis document's ``alignment`` section (docs/analysis-json.md)."""
        ev = self.alignment.to_dict() if self.alignment is not None else {
            "uncertainty_ns": 0, "unaligned": [], "segments": []}
        return {"reference": self.reference, "pivot_ns": self.pivot_ns,
                "uncertainty_ns": self.uncertainty_ns,
                "uncertainty_us": self.uncertainty_ns // 1000,
                "events_uncertainty_ns": int(ev["uncertainty_ns"]),
                "unaligned": list(ev["unaligned"]), "segments": ev["segments"],
                "captures": [p.to_dict() for p in self.placements]}


def _pivot(captures, packets, events) -> int:
    first = captures[0].facts.get("first_ns") if captures and not captures[0].missing else None
    if first is not None:
        return int(first)
    for ts in (packets["ts_ns"] if len(packets) else None,
               events["ts_ns"] if events is not None and len(events) else None):
        if ts is not None:
            return int(ts.min())
    return 0


def align_scenario(captures, packets, events, *, clocks, tolerance_ns, probe_clock):
    """Align one scenario's evidence.

    Parameters
    ----------
    captures : sequence
        Capture records with ``file``, ``clock``, ``missing`` and a ``facts`` dict
        (``first_ns``, ``last_ns``, ``truncated_at_ns`` on the capture's clock); the
        first is the reference.
    packets : DataFrame
        Combined packet table with a ``capture`` column (index into `captures`).
    events : DataFrame or None
        Event table on source clocks.
    clocks : dict of ClockModel
        The scenario's declared clocks (``parse_clocks``).
    tolerance_ns : int
    probe_clock : str
        Clock of the probe payload stamps (the probe log's clock).

    Returns
    -------
    TimeBase
    """
    reference = captures[0].clock
    pivot = _pivot(captures, packets, events)
    reasons, notes = [], []
    result = None
    if events is not None and not events.empty:
        on_ref = packets["capture"].to_numpy() == 0
        primary = packets.loc[on_ref & (packets["probe_seq"].to_numpy() >= 0)]
        result = align(events, packets=primary, clocks=clocks, reference=reference,
                       pivot_ns=pivot)
        events = result.events
        if result.unaligned:
            reasons.append(Reason("clock_uncertainty", "no declared offset and no anchors tie "
                                  f"clock(s) {', '.join(result.unaligned)} to the reference "
                                  f"clock {reference!r}"))
        elif result.uncertainty_ns > tolerance_ns:
            reasons.append(Reason("clock_uncertainty", f"clock alignment uncertainty "
                                  f"{result.uncertainty_ns // 1000} us exceeds the tolerance "
                                  f"{tolerance_ns // 1000} us"))
        reasons.extend(_declarations_against_anchors(result.segments, tolerance_ns))
    ts = packets["ts_ns"].to_numpy().copy()
    capn = packets["capture"].to_numpy()
    send = packets["probe_send_ns"].to_numpy() if "probe_send_ns" in packets else None
    placements, moved = [], []
    widest = int(result.uncertainty_ns) if result is not None and not result.unaligned else 0
    for i, c in enumerate(captures):
        if c.missing:
            moved.append(c)
            continue
        rows = capn == i
        starts = ()
        if result is not None and c.clock != reference:
            seg = result.segments[result.segments["clock"] == c.clock]
            starts = tuple(int(s) for s in seg["start_ns"].iloc[1:])
        new, where = place_capture(c.file, c.clock, ts[rows], reference=reference,
                                   models=clocks, pivot_ns=pivot,
                                   probe_send_ns=None if send is None else send[rows],
                                   probe_on_reference=probe_clock == reference,
                                   segment_starts=starts)
        placements.append(where)
        moved.append(_moved(c, ts[rows], new))
        ts[rows] = new
        if where.model != "reference":
            notes.append(f"capture {c.file} (clock {c.clock!r}) placed on the reference clock: "
                         f"{where.note}; offset {where.offset_ns} ns at its first frame, "
                         f"skew {where.skew_ppm:g} ppm, uncertainty "
                         + ("unknown" if where.uncertainty_ns is None
                            else f"{where.uncertainty_ns} ns"))
        if where.contradicted_ns:
            reasons.append(Reason("clock_uncertainty", f"capture {c.file}: its declared clock "
                                  f"model puts its probe frames up to "
                                  f"{where.contradicted_ns // 1000} us before they were sent: "
                                  "the declaration is wrong"))
        if where.uncertainty_ns is None:
            reasons.append(Reason("clock_uncertainty", f"capture {c.file} is on clock "
                                  f"{c.clock!r}: {where.note}, so nothing ties it to the "
                                  f"reference clock {reference!r}"))
        else:
            widest = max(widest, where.uncertainty_ns)
            if where.uncertainty_ns > tolerance_ns:
                reasons.append(Reason("clock_uncertainty", f"capture {c.file}: its clock is "
                                      f"uncertain by {where.uncertainty_ns // 1000} us "
                                      f"({where.model}), more than the tolerance "
                                      f"{tolerance_ns // 1000} us"))
    packets = packets.copy(deep=False)
    packets["ts_ns"] = ts
    return TimeBase(reference, pivot, packets, events, tuple(moved), tuple(placements), result,
                    widest, tuple(reasons), tuple(notes))


def _declarations_against_anchors(segments, tolerance_ns) -> list:
    """A declared clock model the anchors disprove: some anchor would be captured before
    it was sent (beyond the declared uncertainty), or every anchor lies later than its
    stamp by more than the tolerance (the declared offset is off by about that much)."""
    out = []
    held = segments[(segments["model"] == "declared") & (segments["anchors"] > 0)]
    for row in held.to_dict("records"):
        lo, unc = int(row["residual_min_ns"]), int(row["uncertainty_ns"])
        if lo < -unc:
            out.append(Reason("clock_uncertainty", f"the declared model of clock "
                              f"{row['clock']!r} puts {row['anchor_source']} up to "
                              f"{-lo // 1000} us before they were sent: the declaration is "
                              "wrong"))
        elif lo - unc > tolerance_ns:
            out.append(Reason("clock_uncertainty", f"with the declared model of clock "
                              f"{row['clock']!r} every one of its {row['anchors']} anchors "
                              f"({row['anchor_source']}) lies at least {lo // 1000} us after "
                              "its stamp, more than the tolerance: the declared offset is "
                              "off by about that much"))
    return out


def _moved(capture, old_ts, new_ts):
    """The capture record with its time facts moved as its frames moved (by the shift
    of the nearest frame: a skew moves the first and the last frame differently)."""
    if not len(old_ts):
        return capture
    order = np.argsort(old_ts, kind="stable")
    x, shift = old_ts[order], (new_ts - old_ts)[order]
    facts = dict(capture.facts)
    for key in _TIME_FACTS:
        t = facts.get(key)
        if t is not None:
            k = min(int(np.searchsorted(x, t)), len(x) - 1)
            facts[key] = int(t) + int(shift[k])
    return replace(capture, facts=facts)
