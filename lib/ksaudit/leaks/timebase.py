"""Put every capture and every log event on the reference clock.

The reference clock is the first capture's clock.  A capture on another clock
is shifted by the declared offset (``clocks.<name>.offset_ns``: reference time
= clock time + offset_ns); without a declaration it stays unshifted and the
analysis is INCONCLUSIVE (``clock_uncertainty``).  Events go through
`ksaudit.align` (declared offsets, or offsets estimated from anchors), which
also gives the alignment's uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class TimeBase:
    reference: str
    packets: pd.DataFrame
    events: pd.DataFrame | None
    alignment: dict
    uncertainty_ns: int
    reasons: tuple        # (code, message)
    notes: tuple


def _declared(sc, clock, reference):
    """Offset to add to `clock` times to get reference times, or None if unknown."""
    if clock == reference:
        return 0
    if clock in sc.clocks:
        ref = sc.clocks.get(reference, {"offset_ns": 0})["offset_ns"]
        return sc.clocks[clock]["offset_ns"] - ref
    return None


def align_all(sc, caps, packets, events) -> TimeBase:
    """Shift non-reference captures, align events; collect reasons and notes.

    Parameters
    ----------
    sc : Scenario
    caps : list of CaptureData (their ``facts`` times are shifted in place)
    packets : DataFrame (combined, with ``capture``)
    events : DataFrame or None (event table on source clocks)
    """
    reference = sc.captures[0].clock
    reasons, notes = [], []
    tol_ns = sc.tolerance_us * 1000
    for i, c in enumerate(caps):
        if c.clock == reference or c.missing:
            continue
        off = _declared(sc, c.clock, reference)
        if off is None:
            reasons.append(("clock_uncertainty", f"capture {c.file} is on clock {c.clock!r} "
                            f"with no declared offset to the reference clock {reference!r}"))
            continue
        rows = packets["capture"].to_numpy() == i
        ts = packets["ts_ns"].to_numpy().copy()
        ts[rows] += off
        packets["ts_ns"] = ts
        for key in ("first_ns", "last_ns", "truncated_at_ns"):
            if c.facts[key] is not None:
                c.facts[key] += off
        notes.append(f"capture {c.file} shifted by {off} ns (declared clock offset)")
    if events is None or events.empty:
        return TimeBase(reference, packets, events,
                        {"reference": reference, "uncertainty_ns": 0, "uncertainty_us": 0,
                         "unaligned": [], "segments": []}, 0, tuple(reasons), tuple(notes))
    from ksaudit.align import align
    first = packets["capture"].to_numpy() == 0
    primary = packets if first.all() else packets.loc[first & (packets["probe_seq"] >= 0).to_numpy()]
    clocks = {name: dict(spec) for name, spec in sc.clocks.items()}
    result = align(events, packets=primary, clocks=clocks, reference=reference)
    aligned = result.events
    unc = int(result.uncertainty_ns) if result.uncertainty_ns is not None else None
    adict = result.to_dict()
    adict = {**adict, "reference": reference,
             "uncertainty_ns": unc, "uncertainty_us": None if unc is None else unc // 1000}
    if unc is None:
        reasons.append(("clock_uncertainty", "the logs could not be placed on the reference "
                        "clock (no declared offset and no anchors)"))
    elif unc > tol_ns:
        reasons.append(("clock_uncertainty", f"clock alignment uncertainty {unc // 1000} us "
                        f"exceeds the tolerance {sc.tolerance_us} us"))
    return TimeBase(reference, packets, aligned, adict, unc or 0, tuple(reasons), tuple(notes))

