"""journald ``journalctl -o json``: one JSON object per line, all values strings.

Time: ``_SOURCE_REALTIME_TIMESTAMP`` (the sender's own stamp) is preferred over
``__REALTIME_TIMESTAMP`` (reception); both are µs since the epoch.  A binary
``MESSAGE`` arrives as an array of byte values.  A jump in realtime − monotonic
within one boot (a clock step, or a suspend: monotonic excludes it) is reported
as an extra ``clock_step`` event so alignment can split the clock there.
"""

import pandas as pd

from ksaudit.oslogs.base import open_lines

try:  # optional, ~2x faster; the standard library is the fallback
    from orjson import loads as _loads, JSONDecodeError as _JSONError
except ImportError:  # pragma: no cover
    from json import loads as _loads, JSONDecodeError as _JSONError

NAME = "journald-json"
DESCRIPTION = "journalctl -o json (one JSON object per line)"
QUANTUM_NS = 1000
STEP_MIN_NS = 20_000_000       # realtime-monotonic jumps above this split the clock ...
STEP_PPM = 1000                # ... plus what a slewing clock may drift (1000 ppm)


def sniff(head):
    """Score 0..1 that ``head`` is journald JSON."""
    text = head.lstrip()
    if not text.startswith(b"{"):
        return 0.0
    first = text.split(b"\n", 1)[0]
    if b'"__REALTIME_TIMESTAMP"' in first or b'"__CURSOR"' in first:
        return 0.95
    if b'"MESSAGE"' in first and b'"_BOOT_ID"' in first:
        return 0.8
    return 0.0


def message_text(value):
    """journald MESSAGE value (str, byte array or None) -> str."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        try:
            return bytes(value).decode("utf-8", "replace")
        except (TypeError, ValueError):
            return " ".join(map(str, value))
    return "" if value is None else str(value)


class StepDetector:
    """Finds realtime − monotonic jumps within each boot (µs inputs)."""

    def __init__(self):
        self.last = {}

    def check(self, boot, rt_us, mono_us):
        """Jump in ns since the previous entry of the same boot, or 0."""
        delta = rt_us - mono_us
        prev = self.last.get(boot)
        self.last[boot] = (delta, mono_us)
        if prev is None:
            return 0
        jump_ns = (delta - prev[0]) * 1000
        allowed = STEP_MIN_NS + abs(mono_us - prev[1]) * STEP_PPM // 1000
        return jump_ns if abs(jump_ns) > allowed else 0


def step_event(line, rt_us, jump_ns, boot, mono_us):
    """The synthetic clock_step event for a realtime − monotonic jump."""
    return {"ts_ns": rt_us * 1000, "raw_ts": str(rt_us), "quantum_ns": QUANTUM_NS,
            "tz_source": "assumed-utc", "line": line, "kind": "clock_step", "boot_id": boot,
            "mono_ns": mono_us * 1000, "ident": "journald",
            "message": f"journald: realtime-monotonic offset jumped by {jump_ns / 1e6:+.3f} ms "
                       "(clock step or suspend)"}


def parse(path, ctx):
    """Yield one DataFrame batch of events (plus clock_step dicts) from ``path``."""
    ts, raw, msg, line_no, boot, mono, ident = [], [], [], [], [], [], []
    extra = []
    steps = StepDetector()
    bad = ctx.bad
    with open_lines(path) as fh:
        for n, line in enumerate(fh, 1):
            try:
                rec = _loads(line)
                stamp = rec.get("_SOURCE_REALTIME_TIMESTAMP") or rec["__REALTIME_TIMESTAMP"]
                t = int(stamp) * 1000
            except _JSONError:
                if line.strip():
                    bad(n, line, "not a JSON object")
                continue
            except (KeyError, AttributeError, TypeError):
                bad(n, line, "no __REALTIME_TIMESTAMP")
                continue
            except ValueError:
                bad(n, line, "timestamp is not an integer")
                continue
            b = rec.get("_BOOT_ID", "")
            m = rec.get("__MONOTONIC_TIMESTAMP")
            if m is not None and m.isdigit():
                m = int(m)
                rt = rec.get("__REALTIME_TIMESTAMP")
                if rt is not None and rt.isdigit():
                    jump = steps.check(b, int(rt), m)
                    if jump:
                        extra.append(step_event(n, int(rt), jump, b, m))
                mono.append(m * 1000)
            else:
                mono.append(-1)
            ts.append(t)
            raw.append(stamp)
            msg.append(message_text(rec.get("MESSAGE")))
            line_no.append(n)
            boot.append(b)
            ident.append(rec.get("SYSLOG_IDENTIFIER") or rec.get("_COMM") or "")
    yield pd.DataFrame({
        "ts_ns": pd.array(ts, dtype="int64"), "raw_ts": pd.Series(raw, dtype=object),
        "quantum_ns": QUANTUM_NS, "message": pd.Series(msg, dtype=object),
        "line": pd.array(line_no, dtype="int64"), "tz_source": "assumed-utc",
        "boot_id": pd.Series(boot, dtype=object), "mono_ns": pd.array(mono, dtype="int64"),
        "ident": pd.Series(ident, dtype=object)})
    yield from extra
