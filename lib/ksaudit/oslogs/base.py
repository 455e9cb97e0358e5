"""What every format parser shares: the parse context and the row -> table step.

A parser's ``parse(path, ctx)`` yields either event dicts (one per event) or
whole ``pandas.DataFrame`` batches with the same keys.  Keys a parser may set:

``ts_ns`` (required, earliest reading), ``raw_ts``, ``quantum_ns``, ``message``,
``line``, ``tz_source``, ``ts_hi_ns`` (latest reading when the wall time was
ambiguous), ``ambiguous``, ``boot_id``, ``mono_ns``, ``ident`` (syslog identifier,
process, provider or tag: what recognition rules match on), ``iface``, ``kind``
(only when the format itself says what the event is, e.g. probe logs),
``probe_seq``, ``probe_dst``, ``probe_result``.  Everything else is filled here.
"""

import numpy as np
import pandas as pd

from ksaudit.errors import KsauditError
from ksaudit.oslogs import timeutil
from ksaudit.schema import EVENT_COLUMNS, EVENT_KINDS

MAX_EXAMPLES = 5

# Columns this package adds to schema.EVENT_COLUMNS (reported to the lead).
EXTRA_COLUMNS = {
    "ambiguous": "bool",   # wall time fell in a repeated/skipped DST hour: interval covers both readings
    "ident": "object",     # syslog identifier / process / EVTX provider / logcat tag; "" when none
    "rule": "object",      # name of the recognition rule that set `kind`; "" when none
}
ALL_COLUMNS = {**EVENT_COLUMNS, **EXTRA_COLUMNS}

_DEFAULTS = {
    "raw_ts": "", "quantum_ns": 1, "message": "", "line": 0, "tz_source": "explicit",
    "boot_id": "", "mono_ns": -1, "ident": "", "iface": "", "kind": "",
    "probe_seq": -1, "probe_dst": "", "probe_result": "", "ambiguous": False,
}
_OBJECT = [c for c, t in ALL_COLUMNS.items() if t == "object"]


class ParseContext:
    """Options and bookkeeping for parsing one file.

    Attributes: ``path``, ``file`` (path text as given), ``format``, ``zone``
    (tzinfo or None), ``timezone`` (text as given), ``year`` (int or None),
    ``clock``, ``malformed`` (count), ``examples`` (first malformed lines).
    """

    def __init__(self, path, fmt, timezone=None, year=None, clock="device"):
        self.path = path
        self.file = str(path)
        self.format = fmt
        self.timezone = timezone
        self.zone = timeutil.get_zone(timezone)
        self.year = None if year is None else int(year)
        self.clock = clock
        self.malformed = 0
        self.examples = []
        self.ambiguous = 0
        self.notes = []

    def bad(self, line, text, reason):
        """Record a malformed line (counted; the first few kept with line numbers)."""
        self.malformed += 1
        if len(self.examples) < MAX_EXAMPLES:
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            self.examples.append({"line": int(line), "text": text.rstrip("\r\n")[:200],
                                  "reason": reason})

    def bad_rows(self, line_numbers, texts, reason):
        """Record many malformed lines at once (numpy line numbers, sequence of texts)."""
        for line, text in zip(line_numbers[:MAX_EXAMPLES - len(self.examples)], texts):
            self.examples.append({"line": int(line), "text": str(text)[:200], "reason": reason})
        self.malformed += len(line_numbers)

    def need_zone(self):
        """The zone for zone-less stamps; KsauditError when none was declared."""
        if self.zone is None:
            raise KsauditError(
                f"{self.file}: format {self.format} writes local times without a zone; "
                f"declare it (timezone=... / --timezone / `timezone:` in scenario.yaml)")
        return self.zone

    def local(self, row, year, month, day, hour, minute, second, frac_ns=0):
        """Set ts_ns (and ts_hi_ns/ambiguous in a DST overlap) on ``row`` from wall time."""
        timeutil.check_date(year, month, day, hour, minute, second)
        lo, hi = timeutil.local_to_utc_ns(self.need_zone(), year, month, day,
                                          hour, minute, second, frac_ns)
        row["ts_ns"] = lo
        row["tz_source"] = "declared"
        if hi != lo:
            row["ts_hi_ns"] = hi
            row["ambiguous"] = True
            self.ambiguous += 1
        return row


def read_head(path, size=4096):
    """First ``size`` bytes of a file (KsauditError when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError as exc:
        raise KsauditError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def open_lines(path):
    """Binary line iterator over a file (KsauditError when it cannot be opened)."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise KsauditError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def collect(items, ctx):
    """Turn what a parser yielded (dicts and/or DataFrames) into one raw frame."""
    frames, rows = [], []
    for item in items:
        if isinstance(item, pd.DataFrame):
            if rows:
                frames.append(_rows_frame(rows))
                rows = []
            frames.append(item)
        else:
            rows.append(item)
    if rows or not frames:
        frames.append(_rows_frame(rows))
    frames = [f for f in frames if len(f)] or frames[:1]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _rows_frame(rows):
    keys = {"ts_ns"}
    for row in rows[:1000]:
        keys.update(row)
    for row in rows[1000:]:
        if len(row) > 6:
            keys.update(row)
    cols = {}
    for key in keys:
        default = _DEFAULTS.get(key, -1 if key == "ts_hi_ns" else None)
        values = [r.get(key, default) for r in rows]
        cols[key] = pd.Series(values, dtype=object) if key in _OBJECT or key in ("kind", "tz_source") \
            else values
    return pd.DataFrame(cols) if rows else pd.DataFrame({"ts_ns": np.zeros(0, "int64")})


def finish(raw, ctx, fmt_name):
    """Raw parser frame -> event table (EVENT_COLUMNS + EXTRA_COLUMNS) for one file."""
    n = len(raw)
    out = {}
    ts = _int_col(raw, "ts_ns", None, n)
    quantum = _int_col(raw, "quantum_ns", 1, n)
    hi = _int_col(raw, "ts_hi_ns", -1, n)
    hi = np.where(hi >= 0, hi, ts)
    out["ts_ns"] = ts
    out["kind"] = _obj_col(raw, "kind", "", n)
    out["source"] = constant_category(fmt_name, n)
    out["file"] = constant_category(ctx.file, n)
    out["line"] = _int_col(raw, "line", 0, n)
    out["raw_ts"] = _obj_col(raw, "raw_ts", "", n)
    out["quantum_ns"] = quantum
    out["message"] = _obj_col(raw, "message", "", n)
    out["t_lo_ns"] = ts.copy()
    out["t_hi_ns"] = hi + quantum
    out["source_clock"] = constant_category(ctx.clock, n)
    out["boot_id"] = _obj_col(raw, "boot_id", "", n)
    out["mono_ns"] = _int_col(raw, "mono_ns", -1, n)
    out["tz_source"] = _obj_col(raw, "tz_source", "explicit", n)
    out["iface"] = _obj_col(raw, "iface", "", n)
    out["probe_seq"] = _int_col(raw, "probe_seq", -1, n)
    out["probe_dst"] = _obj_col(raw, "probe_dst", "", n)
    out["probe_result"] = _obj_col(raw, "probe_result", "", n)
    out["src_ts_ns"] = ts.copy()
    out["segment"] = np.full(n, -1, dtype="int64")
    out["ambiguous"] = (_obj_col(raw, "ambiguous", False, n).astype(bool)
                        if "ambiguous" in raw else np.zeros(n, bool))
    out["ident"] = _obj_col(raw, "ident", "", n)
    out["rule"] = np.full(n, "", dtype=object)
    # object columns stay object (pandas 3 would otherwise infer, and copy to, str)
    return pd.DataFrame({k: pd.Series(v, dtype=object)
                         if isinstance(v, np.ndarray) and v.dtype == object else v
                         for k, v in out.items()})


def _int_col(raw, key, default, n):
    if key not in raw:
        if default is None:
            raise KsauditError(f"internal: parser gave no {key}")
        return np.full(n, default, dtype="int64")
    col = raw[key]
    if col.dtype == object:
        col = col.fillna(default if default is not None else 0)
    return col.to_numpy(dtype="int64")


def _obj_col(raw, key, default, n):
    if key not in raw:
        return np.full(n, default, dtype=object)
    col = raw[key]
    arr = col.to_numpy(dtype=object)
    if col.isna().any():
        arr = np.where(pd.isna(arr), default, arr)
    return arr


def empty_events():
    """An empty event table with every column in its dtype."""
    return apply_dtypes(pd.DataFrame({c: np.zeros(0, dtype=object if t in ("object", "category")
                                                   else t) for c, t in ALL_COLUMNS.items()}))


def apply_dtypes(df):
    """Cast a full event frame to the contract dtypes (categories, object text)."""
    for col, dtype in ALL_COLUMNS.items():
        current = df[col].dtype
        if dtype == "category":
            cats = list(EVENT_KINDS) if col == "kind" else None
            if isinstance(current, pd.CategoricalDtype) and (
                    cats is None or list(current.categories) == cats):
                continue
            values = df[col].to_numpy(dtype=object)
            df[col] = (pd.Categorical(values, categories=cats) if cats
                       else pd.Categorical(values))
        elif dtype == "object":
            if current != object:
                df[col] = pd.Series(df[col].to_numpy(dtype=object), index=df.index, dtype=object)
        elif current != dtype:
            df[col] = df[col].to_numpy(dtype=dtype)
    return df[list(ALL_COLUMNS)]


def constant_category(value, n):
    """A categorical column holding one value n times (cheap)."""
    return pd.Categorical.from_codes(np.zeros(n, dtype="int8"), categories=[value])
