"""The anchor fit: a lower envelope of (reference time − source time).

An anchor is a pair (x = a moment on the source clock, y = the same moment as
seen on the reference clock, e.g. a probe's send stamp and its capture stamp).
Delays are one-sided — a packet is captured after it is sent — so every
d = y − x lies *above* the true offset line.  Least squares would put the line
through the middle of the delays; instead ``fit_lower_envelope`` takes the
highest line that stays below every point, judged at the anchors' mean x: that
is the edge of the lower convex hull spanning the mean x (it minimises the sum
of the residuals, all ≥ 0, over lines below all points).

Error bound (``FitResult.error_ns(x)``): within the anchors' span, the 10th
percentile of the residuals for an offset+skew fit; the largest residual for an
offset-only fit (fewer than 10 anchors or a span under 1 s: the spread then also
covers a rate difference within the span) or fewer than 20 anchors; fewer than
3 anchors do not make a model (never below ``floor_ns``, the anchors' own
resolution).  The fitted line can only sit above the true one by about the
smallest delays, and it would take a line off by more than that bound to leave
90 % of the anchors within it of a delay-free path.  It is an estimate, not a
proof: a constant one-way delay (the same for every anchor) cannot be seen by
one-way anchors at all.  Outside the span the error grows linearly with the
distance, at 2 × bound / span (the rate error the anchors cannot exclude).
"""

import math
from dataclasses import dataclass

import numpy as np

MIN_SKEW_ANCHORS = 10          # fewer anchors: offset only
MIN_SKEW_SPAN_NS = 10**9       # anchors spanning less than this: offset only
RESIDUAL_QUANTILE = 0.10
FEW_ANCHORS = 20               # below this the bound is the largest residual
MIN_ANCHORS = 3                # below this a segment is not aligned from anchors


@dataclass(frozen=True)
class FitResult:
    """A fitted map from a source clock to the reference clock.

    ``reference(x) = x + offset_ns + skew * (x - x0_ns)`` where skew = skew_ppm/1e6.
    """
    model: str            # "offset" | "offset+skew"
    x0_ns: int            # origin of the skew term (first anchor, source clock)
    offset_ns: int        # reference − source at x0_ns
    skew_ppm: float
    anchors: int
    span_lo_ns: int       # anchors' first and last x
    span_hi_ns: int
    residual_max_ns: int
    bound_ns: int         # error bound inside the span

    def offset_at(self, x_ns):
        """reference − source (int64 ns) at source times ``x_ns`` (array or int)."""
        x = np.asarray(x_ns, dtype="int64")
        drift = np.rint((x - self.x0_ns).astype("float64") * (self.skew_ppm * 1e-6))
        return (self.offset_ns + drift.astype("int64")) if x.ndim else int(self.offset_ns + drift)

    def error_ns(self, x_ns):
        """Error bound (ns, int64) of the mapping at source times ``x_ns``."""
        x = np.asarray(x_ns, dtype="int64")
        outside = np.maximum(self.span_lo_ns - x, 0) + np.maximum(x - self.span_hi_ns, 0)
        span = self.span_hi_ns - self.span_lo_ns
        # an unknown rate difference (offset model) or the fitted one's error (skew model)
        slope_err = 2.0 * self.bound_ns / span if span > 0 else 0.0
        grow = np.ceil(outside.astype("float64") * slope_err).astype("int64")
        out = self.bound_ns + grow
        return out if x.ndim else int(out)


def _lower_hull(x, y):
    """Indices of the lower convex hull of points sorted by x (Andrew's monotone chain)."""
    hull = []
    for i in range(len(x)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # keep b only if a->b->i turns left (b strictly below the chord a-i)
            cross = (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a])
            if cross <= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return hull


def fit_lower_envelope(x_ns, y_ns, skew=True, floor_ns=1000):
    """Fit reference − source from one-sided anchors.

    Parameters
    ----------
    x_ns : array of int64
        Anchor times on the source clock (e.g. probe send stamps).
    y_ns : array of int64
        The same anchors on the reference clock (e.g. capture stamps); each
        y − x is the clock offset plus a delay ≥ 0.
    skew : bool
        Also fit a rate difference when there are enough anchors over a long
        enough span (``MIN_SKEW_ANCHORS``, ``MIN_SKEW_SPAN_NS``).
    floor_ns : int
        Smallest error bound: the anchors' own resolution (1 µs pcap stamps).

    Returns
    -------
    FitResult
        Model, offset (int ns), skew (ppm), residuals and the error bound.
    """
    x = np.asarray(x_ns, dtype="int64")
    y = np.asarray(y_ns, dtype="int64")
    if len(x) == 0 or len(x) != len(y):
        raise ValueError("fit_lower_envelope needs the same number (> 0) of x and y")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    d = y - x
    x0, d0 = int(x[0]), int(d.min())
    xr = (x - x0).astype("float64")
    dr = (d - d0).astype("float64")
    span = int(x[-1] - x[0])
    slope, intercept, model = 0.0, 0.0, "offset"
    if skew and len(x) >= MIN_SKEW_ANCHORS and span >= MIN_SKEW_SPAN_NS:
        hull = _lower_hull(xr, dr)
        if len(hull) >= 2:
            mean_x = float(xr.mean())
            for a, b in zip(hull, hull[1:]):
                if xr[a] <= mean_x <= xr[b] and xr[b] > xr[a]:
                    slope = (dr[b] - dr[a]) / (xr[b] - xr[a])
                    intercept = dr[a] - slope * xr[a]
                    model = "offset+skew"
                    break
    line = intercept + slope * xr
    resid = np.maximum(dr - line, 0.0)
    # the line is below every point up to float rounding; re-anchor its offset exactly
    offset = d0 + int(math.floor(intercept + min(0.0, float((dr - line).min()))))
    if len(resid) >= FEW_ANCHORS and model == "offset+skew":
        k = max(0, int(math.ceil(RESIDUAL_QUANTILE * len(resid))) - 1)
        spread = float(np.partition(resid, k)[k])
    else:
        # few anchors, or no rate fitted: the whole spread, which also covers any
        # drift of the clocks within the anchors' span
        spread = float(resid.max())
    bound = max(int(floor_ns), int(math.ceil(spread)))
    return FitResult(model=model, x0_ns=x0, offset_ns=offset, skew_ppm=slope * 1e6,
                     anchors=int(len(x)), span_lo_ns=x0, span_hi_ns=int(x[-1]),
                     residual_max_ns=int(math.ceil(resid.max())), bound_ns=bound)
