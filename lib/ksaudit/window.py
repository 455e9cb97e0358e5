"""The test window: the stretch of a run that is under test (docs/test-window.md).

By default it is the span of the probe attempts, first to last, that the probe log
and the probe packets in the captures show (their union, so that a probe log cut short
cannot hide probes the captures hold): that is when traffic was tried.  Without
probes, the reference capture's span.  scenario.yaml may declare it instead, on the reference clock:
``window: {start_ns: A, end_ns: B}`` (absolute, ns since the epoch), or
``window: {after_s: X, before_s: Y}`` (from X to Y seconds after the reference
capture's first frame).  Either bound may be left out; it then takes the default's.
An episode that lies wholly after the window (the client stopped at the end of the
run) or wholly before it is reported as outside the window and does not change the
verdict; one that overlaps it is judged in full.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ksaudit.errors import KsauditError

_ABSOLUTE = ("start_ns", "end_ns")
_RELATIVE = ("after_s", "before_s")


@dataclass(frozen=True)
class DeclaredWindow:
    """scenario.yaml ``window``: absolute ns or seconds after the reference capture's start."""
    start_ns: int | None = None
    end_ns: int | None = None
    after_s: float | None = None
    before_s: float | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in (("start_ns", self.start_ns), ("end_ns", self.end_ns),
                                  ("after_s", self.after_s), ("before_s", self.before_s))
                if v is not None}


@dataclass(frozen=True)
class WindowUnderTest:
    """The resolved window on the reference clock, and where it came from."""
    start_ns: int
    end_ns: int
    source: str            # "declared" | "probe log" | "probe packets" |
                           # "probe log + probe packets" | "capture"

    def outside(self, lo_ns: int, hi_ns: int) -> str | None:
        """"after" / "before" when ``[lo_ns, hi_ns]`` lies wholly after / before the window."""
        if lo_ns > self.end_ns:
            return "after"
        if hi_ns < self.start_ns:
            return "before"
        return None

    def to_dict(self) -> dict:
        return {"start_ns": self.start_ns, "end_ns": self.end_ns, "source": self.source}


def _number(value, where, kind):
    ok = (isinstance(value, int) if kind is int else isinstance(value, (int, float)))
    if isinstance(value, bool) or not ok:
        raise KsauditError(f"{where}: must be {'an integer' if kind is int else 'a number'}, "
                           f"got {value!r}")
    if kind is int:
        if not -2**62 <= value <= 2**62:
            raise KsauditError(f"{where}: {value} is out of range")
        return int(value)
    if not math.isfinite(value) or not 0 <= value <= 10**9:
        raise KsauditError(f"{where}: {value!r} is not a number of seconds (0 .. 1e9)")
    return float(value)


def parse_window(raw) -> DeclaredWindow | None:
    """Validate scenario.yaml ``window`` (None: the default window)."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw:
        raise KsauditError(f"window: must be {{start_ns, end_ns}} or {{after_s, before_s}}, "
                           f"got {raw!r}")
    unknown = sorted(str(k) for k in raw if k not in _ABSOLUTE + _RELATIVE)
    if unknown:
        raise KsauditError(f"window: unknown key(s) {unknown} (allowed: start_ns, end_ns, "
                           "after_s, before_s)")
    if any(k in raw for k in _ABSOLUTE) and any(k in raw for k in _RELATIVE):
        raise KsauditError("window: give either start_ns/end_ns or after_s/before_s, not both")
    kinds = {"start_ns": int, "end_ns": int, "after_s": float, "before_s": float}
    values = {k: _number(v, f"window.{k}", kinds[k]) for k, v in raw.items()}
    w = DeclaredWindow(**values)
    for a, b in (("start_ns", "end_ns"), ("after_s", "before_s")):
        if values.get(a) is not None and values.get(b) is not None and values[a] >= values[b]:
            raise KsauditError(f"window: {a} ({values[a]}) must be before {b} ({values[b]})")
    return w


def resolve_window(declared, *, probe_log_ns, probe_frame_ns, capture_first_ns,
                   capture_last_ns) -> WindowUnderTest | None:
    """The window under test on the reference clock (None without any evidence).

    Parameters
    ----------
    declared : DeclaredWindow or None
    probe_log_ns : array of int64
        Aligned times of the probe log's attempts (sent or refused).
    probe_frame_ns : array of int64
        Times of the probe frames in the captures (used without a probe log).
    capture_first_ns, capture_last_ns : int or None
        The reference capture's first and last frame.
    """
    spans = [(int(np.min(ts)), int(np.max(ts)), source)
             for ts, source in ((probe_log_ns, "probe log"), (probe_frame_ns, "probe packets"))
             if len(ts)]
    if spans:
        # both: their union, so a probe log cut short cannot hide probes the captures hold
        default = (min(s[0] for s in spans), max(s[1] for s in spans),
                   " + ".join(s[2] for s in spans))
    elif capture_first_ns is None:
        default = None
    else:
        default = (int(capture_first_ns), int(capture_last_ns), "capture")
    if declared is None:
        return None if default is None else WindowUnderTest(*default)
    start, end = (default[0], default[1]) if default else (None, None)
    if declared.start_ns is not None or declared.end_ns is not None:
        start = declared.start_ns if declared.start_ns is not None else start
        end = declared.end_ns if declared.end_ns is not None else end
    else:
        if capture_first_ns is None:
            raise KsauditError("window: after_s/before_s count from the reference capture's "
                               "first frame, and that capture holds no frame")
        if declared.after_s is not None:
            start = int(capture_first_ns) + int(round(declared.after_s * 1e9))
        if declared.before_s is not None:
            end = int(capture_first_ns) + int(round(declared.before_s * 1e9))
    if start is None or end is None:
        return None
    return WindowUnderTest(int(start), int(end), "declared")
