"""Put every capture and every log event on the reference clock.

The reference clock is the first capture's clock.  A capture on another clock
is shifted by the declared offset (``clocks.<name>.offset_ns``: reference time
= clock time + offset_ns); without a declaration, by the offset (and skew)
estimated from the probe packets it holds (their payload send stamps are on
the probe clock, which must be the reference clock), with the fit's error
bound checked against the tolerance; with neither it stays unshifted and the
analysis is INCONCLUSIVE (``clock_uncertainty``).  Events go through
`ksaudit.align` (declared offsets, or offsets estimated from anchors), which
also gives the alignment's uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
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


def _estimate(packets, rows, probe_on_reference: bool):
    """Per-row shift (ns) putting the capture selected by `rows` on the reference clock,
    and its error bound, from the self-timestamped probe packets it holds; None when
    the probe stamps are not on the reference clock or too few probes were seen."""
    from ksaudit.align.envelope import MIN_ANCHORS, fit_lower_envelope
    send = packets["probe_send_ns"].to_numpy()[rows]
    ts = packets["ts_ns"].to_numpy()[rows]
    ok = send >= 0
    if not probe_on_reference or ok.sum() < MIN_ANCHORS:
        return None
    # capture time = send time (reference) + offset + transit: fit capture - send
    fit = fit_lower_envelope(send[ok], ts[ok])
    approx = ts - fit.offset_ns
    shift = -np.asarray(fit.offset_at(approx), np.int64)
    bound = int(np.max(fit.error_ns(np.array([approx.min(), approx.max()], np.int64))))
    return shift, bound


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
    probe_clock = next((lg.clock for lg in sc.logs if lg.format == "ksaudit-probe"), "device")
    for i, c in enumerate(caps):
        if c.clock == reference or c.missing:
            continue
        rows = packets["capture"].to_numpy() == i
        ts = packets["ts_ns"].to_numpy().copy()
        off = _declared(sc, c.clock, reference)
        if off is not None:
            shift = np.full(int(rows.sum()), off, np.int64)
            notes.append(f"capture {c.file} shifted by {off} ns (declared clock offset)")
        else:
            est = _estimate(packets, rows, reference == probe_clock)
            if est is None:
                reasons.append(("clock_uncertainty", f"capture {c.file} is on clock {c.clock!r} "
                                f"with no declared offset to the reference clock {reference!r} "
                                "and too few probe packets to estimate one"))
                continue
            shift, bound = est
            notes.append(f"capture {c.file} (clock {c.clock!r}) placed on the reference clock "
                         f"from its probe packets' send stamps: shift {int(np.median(shift))} ns, "
                         f"bound {bound} ns (the lower envelope also absorbs the shortest "
                         "transit from the device to this vantage point)")
            if bound > tol_ns:
                reasons.append(("clock_uncertainty", f"capture {c.file}: estimated clock "
                                f"offset uncertain by {bound // 1000} us, more than the "
                                f"tolerance {sc.tolerance_us} us"))
        ts[rows] += shift
        packets["ts_ns"] = ts
        for key in ("first_ns", "last_ns", "truncated_at_ns"):
            if c.facts[key] is not None:
                c.facts[key] += int(shift[0]) if len(shift) else 0
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
    if result.unaligned:
        reasons.append(("clock_uncertainty", "no declared offset and no anchors tie clock(s) "
                        f"{', '.join(result.unaligned)} to the reference clock {reference!r}"))
    elif unc > tol_ns:
        reasons.append(("clock_uncertainty", f"clock alignment uncertainty {unc // 1000} us "
                        f"exceeds the tolerance {sc.tolerance_us} us"))
    return TimeBase(reference, packets, aligned, adict, unc or 0, tuple(reasons), tuple(notes))

