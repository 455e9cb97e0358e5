"""journald ``journalctl -o json``: one JSON object per line, all values strings.

Time: ``_SOURCE_REALTIME_TIMESTAMP`` (the sender's own stamp) is preferred over
``__REALTIME_TIMESTAMP`` (reception); both are µs since the epoch.  A binary
``MESSAGE`` arrives as an array of byte values.  A jump in realtime − monotonic
within one boot (a clock step, or a suspend: monotonic excludes it) is reported
as an extra ``clock_step`` event (``journal.clock_steps``).
"""

import numpy as np

from ksaudit.oslogs import fastscan, timeutil
from ksaudit.oslogs.base import Batch, open_lines
from ksaudit.oslogs.journal import QUANTUM_NS, clock_steps

try:  # optional, ~2x faster; the standard library is the fallback
    from orjson import loads as _loads, JSONDecodeError as _JSONError
except ImportError:  # pragma: no cover
    from json import loads as _loads, JSONDecodeError as _JSONError

NAME = "journald-json"
DESCRIPTION = "journalctl -o json (one JSON object per line)"


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


def parse(path, ctx):
    """Yield the events of ``path``: one Batch, plus clock_step rows."""
    try:
        with open(path, "rb") as fh:
            data = np.frombuffer(fh.read(), dtype=np.uint8)
    except OSError:
        open_lines(path)  # raises the project error
        raise
    starts, ends, status, vs, ve, vtype, esc = fastscan.scan_journald_json(data)
    k = {key: i for i, key in enumerate(fastscan.JOURNAL_KEYS)}
    n = len(starts)

    def number(key):
        i = k[key]
        ok = (vtype[:, i] == fastscan.V_STRING) | (vtype[:, i] == fastscan.V_OTHER)
        value = np.where(ok, fastscan.parse_uint(data, vs[:, i], ve[:, i]), -1)
        return np.where(value < timeutil.MAX_NS // 1000, value, -1)   # µs an int64 ns holds

    rt, src_rt, mono = number("__REALTIME_TIMESTAMP"), number("_SOURCE_REALTIME_TIMESTAMP"), \
        number("__MONOTONIC_TIMESTAMP")
    use_src = src_rt > 0
    ts_us = np.where(use_src, src_rt, rt)
    good = (status == fastscan.OK) & (ts_us >= 0)
    for i in np.flatnonzero((status != fastscan.BLANK) & ~good)[:10000]:
        _explain(ctx, i + 1, bytes(data[starts[i]:ends[i]]))
    extra = (np.count_nonzero((status != fastscan.BLANK) & ~good) - 10000)
    if extra > 0:
        ctx.malformed += extra
    rows = np.flatnonzero(good)
    stamp_slot = np.where(use_src[rows], k["_SOURCE_REALTIME_TIMESTAMP"], k["__REALTIME_TIMESTAMP"])
    raw = fastscan.gather(data, vs[rows, stamp_slot], ve[rows, stamp_slot])
    boot = _text(data, rows, k["_BOOT_ID"], vs, ve, vtype, esc, repeated=True)
    msg, msg_arrow = _text(data, rows, k["MESSAGE"], vs, ve, vtype, esc, arrow=True)
    ident = _text(data, rows, k["SYSLOG_IDENTIFIER"], vs, ve, vtype, esc, repeated=True)
    no_ident = np.flatnonzero(vtype[rows, k["SYSLOG_IDENTIFIER"]] == fastscan.V_NONE)
    if len(no_ident):
        comm = _text(data, rows[no_ident], k["_COMM"], vs, ve, vtype, esc, repeated=True)
        ident[no_ident] = comm
    mono_r, rt_r = mono[rows], rt[rows]
    batch = Batch(ts_ns=ts_us[rows] * 1000, raw_ts=raw, quantum_ns=QUANTUM_NS, message=msg,
                  line=rows + 1, tz_source="assumed-utc", boot_id=boot,
                  mono_ns=np.where(mono_r >= 0, mono_r * 1000, -1), ident=ident)
    if len(rows) == n:
        batch.message_arrow = msg_arrow
    yield batch
    yield from clock_steps(rows + 1, rt_r, mono_r, boot)


def _text(data, rows, slot, vs, ve, vtype, esc, arrow=False, repeated=False):
    """String values of one key for ``rows``: fast for plain strings, json for the rest."""
    values, text = fastscan.gather(data, vs[rows, slot], ve[rows, slot], arrow=True,
                                   repeated=repeated)
    special = np.flatnonzero((vtype[rows, slot] != fastscan.V_STRING) | esc[rows, slot])
    special = special[vtype[rows[special], slot] != fastscan.V_NONE]
    if len(special):
        values = values.copy()
        for j in special:
            r = rows[j]
            piece = bytes(data[vs[r, slot]:ve[r, slot]])
            if vtype[r, slot] == fastscan.V_STRING:
                piece = b'"' + piece + b'"'
            try:
                values[j] = message_text(_loads(piece))
            except _JSONError:
                values[j] = piece.decode("utf-8", "replace")
        text = None
    if arrow:
        return values, text
    return values


def _explain(ctx, n, line):
    """Record why line ``n`` is not a usable journald JSON entry."""
    try:
        rec = _loads(line)
        stamp = rec.get("_SOURCE_REALTIME_TIMESTAMP") or rec["__REALTIME_TIMESTAMP"]
        if not 0 <= int(stamp) < timeutil.MAX_NS // 1000:
            reason = f"timestamp outside 1970-{timeutil.MAX_YEAR}"
        else:
            reason = "not a flat JSON object"
    except _JSONError:
        reason = "not a JSON object"
    except (KeyError, AttributeError, TypeError):
        reason = "no __REALTIME_TIMESTAMP"
    except ValueError:
        reason = "timestamp is not an integer"
    ctx.bad(n, line, reason)
