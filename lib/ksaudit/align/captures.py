"""Put a capture's frames on the reference clock, by the same clock model as the events.

A capture on the reference clock stays as it is.  A capture on another clock moves by
that clock's declared model (``ksaudit.align.clocks``: offset, skew about the pivot,
uncertainty) -- the same model, about the same pivot, that moves the events logged on
that clock.  Without a declaration, its self-timestamped probe packets (payload send
stamps on the reference clock) fix offset and skew by a lower envelope, separately in
each segment of its clock (split where the logs on that clock show a boot, a resume or a
step).  With neither, the frames stay where they are and the placement says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ksaudit.align.clocks import relative_model
from ksaudit.align.envelope import MIN_ANCHORS, fit_lower_envelope


@dataclass(frozen=True)
class CapturePlacement:
    """How one capture's frames were put on the reference clock."""
    file: str
    clock: str
    model: str                 # "reference" | "declared" | "probe packets" | "none"
    offset_ns: int             # reference − capture time at the capture's first frame
    skew_ppm: float
    uncertainty_ns: int | None  # None: nothing ties this clock to the reference
    segments: int = 1
    note: str = ""
    contradicted_ns: int = 0    # > 0: the declared model puts a probe frame before its send

    def to_dict(self) -> dict:
        return {"file": self.file, "clock": self.clock, "model": self.model,
                "offset_ns": self.offset_ns, "skew_ppm": self.skew_ppm,
                "uncertainty_ns": self.uncertainty_ns, "segments": self.segments,
                "note": self.note, "contradicted_ns": self.contradicted_ns}


def _probe_fit(ts, send):
    """Shift (per frame) and error bound from the probe frames among `ts`, or None."""
    ok = send >= 0
    if ok.sum() < MIN_ANCHORS:
        return None
    # capture time = send time (reference) + transit − offset: fit capture − send
    fit = fit_lower_envelope(send[ok], ts[ok])
    approx = ts - fit.offset_ns
    shift = -np.asarray(fit.offset_at(approx), np.int64)
    bound = int(np.max(fit.error_ns(np.array([approx.min(), approx.max()], np.int64))))
    return shift, bound, fit.skew_ppm


def place_capture(file, clock, ts_ns, *, reference, models, pivot_ns, probe_send_ns=None,
                  probe_on_reference=True, segment_starts=()):
    """New frame times of one capture on the reference clock, and how they were found.

    Parameters
    ----------
    file, clock : str
        The capture (for the placement record) and its clock's name.
    ts_ns : ndarray of int64
        Its frame times on its own clock.
    reference : str
    models : dict of ClockModel
        ``parse_clocks`` of scenario.yaml ``clocks``.
    pivot_ns : int
        Where declared offsets hold (the same pivot the events use).
    probe_send_ns : ndarray of int64 or None
        Per frame, the probe payload's send stamp (−1: not a probe).
    probe_on_reference : bool
        The probe stamps are on the reference clock (else they cannot place it).
    segment_starts : sequence of int
        Times on this clock where it splits (from the event alignment's segments).

    Returns
    -------
    (ndarray of int64, CapturePlacement)
    """
    ts = np.asarray(ts_ns, np.int64)
    if clock == reference:
        return ts, CapturePlacement(file, clock, "reference", 0, 0.0, 0, 1, "reference clock")
    send = (np.full(len(ts), -1, np.int64) if probe_send_ns is None
            else np.asarray(probe_send_ns, np.int64))
    model = relative_model(models, clock, reference)
    if model is not None:
        new = ts + np.asarray(model.offset_at(ts, pivot_ns), np.int64)
        first = int(new[0] - ts[0]) if len(ts) else model.offset_ns
        # a probe frame is captured after it was sent: a model that says otherwise is wrong
        probe = send >= 0
        early = int((send[probe] - new[probe]).max()) if probe_on_reference and probe.any() else 0
        return new, CapturePlacement(
            file, clock, "declared", first, model.skew_ppm, model.uncertainty_ns, 1,
            "declared in scenario clocks (the model its clock's log events use too)",
            early if early > model.uncertainty_ns else 0)
    starts = sorted(int(s) for s in segment_starts)
    part = np.searchsorted(np.asarray(starts, np.int64), ts, side="right")
    if not probe_on_reference:
        return ts, CapturePlacement(file, clock, "none", 0, 0.0, None, len(starts) + 1,
                                    "no declared offset, and its probe stamps are not on the "
                                    "reference clock")
    out, bounds, skews = ts.copy(), [], []
    for k in np.unique(part):
        rows = part == k
        est = _probe_fit(ts[rows], send[rows])
        if est is None:
            return ts, CapturePlacement(
                file, clock, "none", 0, 0.0, None, len(starts) + 1,
                f"no declared offset and fewer than {MIN_ANCHORS} probe packets"
                + (f" in segment {int(k)} of its clock" if starts else ""))
        out[rows] = ts[rows] + est[0]
        bounds.append(est[1])
        skews.append(est[2])
    first = int(out[0] - ts[0]) if len(ts) else 0
    return out, CapturePlacement(
        file, clock, "probe packets", first, float(skews[0]), max(bounds), len(bounds),
        "placed by its probe packets' send stamps (the lower envelope also absorbs the "
        "shortest transit from the device to this vantage point)")
