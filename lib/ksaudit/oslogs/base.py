"""What every format parser shares: the parse context and the row -> table step.

A parser's ``parse(path, ctx)`` yields either event dicts (one per event) or
``Batch`` objects (column name -> array, for many events at once) with the same
keys; values are never None.  Keys a parser may set:

``ts_ns`` (required, earliest reading), ``raw_ts``, ``quantum_ns``, ``message``,
``line``, ``tz_source``, ``ts_hi_ns`` (latest reading when the wall time was
ambiguous), ``ambiguous``, ``boot_id``, ``mono_ns``, ``ident`` (syslog identifier,
process, provider or tag: what recognition rules match on), ``iface``, ``kind``
(only when the format itself says what the event is, e.g. probe logs),
``probe_seq``, ``probe_dst``, ``probe_result``.  Everything else is filled here.
"""

import json

import numpy as np
import pandas as pd

from ksaudit.errors import KsauditError
from ksaudit.oslogs import timeutil
from ksaudit.oslogs.facts import Malformed
from ksaudit.safeio import open_regular
from ksaudit.schema import EVENT_COLUMNS, EVENT_KINDS

MAX_EXAMPLES = 5
MAX_PREAMBLE_LINES = 40     # malformed lines before the first event that may be a preamble
KEEP_BAD = MAX_PREAMBLE_LINES + MAX_EXAMPLES + 1

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
    ``clock``, ``malformed`` (count), ``examples`` (first malformed lines, as
    ``facts.Malformed``), ``preamble_lines`` (set by ``settle``), ``notes``.
    """

    def __init__(self, path, fmt, timezone=None, year=None, clock="device"):
        self.path = path
        self.file = str(path)
        self.format = fmt
        self.timezone = timezone
        self.zone = timeutil.get_zone(timezone)
        try:
            self.year = None if year is None else int(year)
        except (TypeError, ValueError) as exc:
            raise KsauditError(f"{self.file}: year must be a whole number, not {year!r}") from exc
        if self.year is not None and not timeutil.MIN_YEAR <= self.year <= timeutil.MAX_YEAR:
            raise KsauditError(f"{self.file}: year {self.year} is outside "
                               f"{timeutil.MIN_YEAR}-{timeutil.MAX_YEAR}")
        self.clock = clock
        self.malformed = 0
        self.ambiguous = 0
        self.notes = []
        self.preamble_lines = 0
        self._bad = []          # first KEEP_BAD malformed lines, in the order reported
        self._shaped = set()    # their line numbers that have the format's shape

    def bad(self, line, text, reason, shaped=False):
        """Record a malformed line (counted; the first few kept with line numbers).
        ``shaped``: the line has the format's shape, only a value is wrong (it can
        never be part of a preamble)."""
        self.malformed += 1
        if len(self._bad) < KEEP_BAD:
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            self._bad.append(Malformed(int(line), text.rstrip("\r\n")[:200], reason))
            if shaped:
                self._shaped.add(int(line))

    @property
    def examples(self):
        """The first MAX_EXAMPLES malformed lines after the preamble."""
        return [b for b in self._bad if not 1 <= b.line <= self.preamble_lines][:MAX_EXAMPLES]

    def settle(self, first_line, what, looks_like=None):
        """Call once parsing is done, with the line of the first event.  The
        malformed lines before it that do not even look like the format
        (``looks_like(text)`` false: a banner, a harness's header; at most
        MAX_PREAMBLE_LINES) are a preamble: reported in ``notes``, no longer
        counted as malformed.  A line shaped like the format but with a bad value
        ends the preamble and stays malformed.  ``what`` names the format."""
        if first_line is None or first_line <= 1:
            return
        before = sorted((b for b in self._bad if b.line < first_line), key=lambda b: b.line)
        complete = len(self._bad) == self.malformed or any(b.line > first_line for b in self._bad)
        if not before or not complete or len(before) > MAX_PREAMBLE_LINES:
            return
        end = first_line
        for b in before:
            if b.line in self._shaped or (looks_like is not None and looks_like(b.text)):
                end = b.line
                break
        skipped = [b for b in before if b.line < end]
        if not skipped:
            return
        self.preamble_lines = int(end) - 1
        self.malformed -= len(skipped)
        span = "line 1" if end == 2 else f"lines 1-{end - 1}"
        self.notes.insert(0, f"skipped a {end - 1}-line preamble ({span}) before the first "
                             f"{what} line; it begins {skipped[0].text[:60]!r}")

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
        with open_regular(path) as fh:  # a FIFO or a directory: one line, never a hang
            return fh.read(size)
    except OSError as exc:
        raise KsauditError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def open_lines(path):
    """Binary line iterator over a file (KsauditError when it cannot be opened)."""
    try:
        return open_regular(path)
    except OSError as exc:
        raise KsauditError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def sniff_lines(head, line_re, score, skip=b"\x00"):
    """``score`` when at least half of the first non-blank lines of ``head`` (those
    not starting with ``skip``) match ``line_re``, else 0."""
    lines = [ln for ln in head.split(b"\n")[:12] if ln.strip() and not ln.startswith(skip)]
    hits = sum(1 for ln in lines if line_re.match(ln))
    return score if lines and hits >= (len(lines) + 1) // 2 else 0.0


def numbered_lines(path, skip=None):
    """Yield ``(line_number, line)`` (bytes, newline kept) for each non-blank line of
    ``path``, leaving out lines starting with ``skip`` (bytes or tuple of bytes)."""
    with open_lines(path) as fh:
        for n, line in enumerate(fh, 1):
            if line.strip() and not (skip and line.startswith(skip)):
                yield n, line


def matched_lines(path, ctx, line_re, what, skip=b"\x00"):
    """Yield ``(line_number, match)`` for each line of ``path`` matching ``line_re``;
    other non-blank lines (except those starting with ``skip``) are counted as
    malformed ("not a <what> line")."""
    for n, line in numbered_lines(path, skip):
        m = line_re.match(line)
        if m is None:
            ctx.bad(n, line, f"not {what} line")
            continue
        yield n, m


def json_lines(path, ctx, skip=None):
    """Yield ``(line_number, line, value)`` for each non-blank line of ``path`` that
    is JSON (any value: callers check its shape); other lines (except those starting
    with ``skip``) are counted as malformed ("not a JSON object")."""
    for n, line in numbered_lines(path, skip):
        try:
            value = json.loads(line)
        except ValueError:
            ctx.bad(n, line, "not a JSON object")
            continue
        yield n, line, value


class Batch(dict):
    """Many events at once: column name -> equal-length array (or a scalar for all).

    ``message_arrow`` may hold the message column as a pyarrow string array too
    (saves converting it back for recognition).
    """
    message_arrow = None


_INT_KEYS = ("ts_ns", "ts_hi_ns", "quantum_ns", "line", "mono_ns", "probe_seq")


def collect(items, ctx):
    """What a parser yielded (dict rows and/or Batch columns) -> {column: numpy array}."""
    parts, rows, batches = [], [], []
    for item in items:
        if isinstance(item, Batch):
            batches.append(item)
            if rows:
                parts.append(_rows_columns(rows))
                rows = []
            parts.append(_batch_columns(item))
        elif timeutil.MIN_NS <= item["ts_ns"] < timeutil.MAX_NS:
            rows.append(item)
        else:
            ctx.bad(item.get("line", 0), item.get("raw_ts", "") or item.get("message", ""),
                    f"time outside {timeutil.MIN_YEAR}-{timeutil.MAX_YEAR}", shaped=True)
    if rows or not parts:
        parts.append(_rows_columns(rows))
    if len(parts) == 1:
        if len(batches) == 1 and batches[0].message_arrow is not None:
            parts[0]["_message_arrow"] = batches[0].message_arrow
        return parts[0]
    keys = set().union(*parts)
    out = {}
    for key in keys:
        default = _default(key)
        out[key] = np.concatenate([p[key] if key in p else _fill(default, len(p["ts_ns"]), key)
                                   for p in parts])
    return out


def _default(key):
    return -1 if key == "ts_hi_ns" else _DEFAULTS.get(key, "")


def _fill(value, n, key):
    dtype = "int64" if key in _INT_KEYS else bool if key == "ambiguous" else object
    return np.full(n, value, dtype=dtype)


def _batch_columns(batch):
    n = len(batch["ts_ns"])
    out = {}
    for key, value in batch.items():
        if np.ndim(value) == 0:
            out[key] = _fill(value, n, key)
        else:
            dtype = "int64" if key in _INT_KEYS else bool if key == "ambiguous" else object
            out[key] = np.asarray(value, dtype=dtype)
    return out


def _rows_columns(rows):
    keys = {"ts_ns"}
    for row in rows[:1000]:
        keys.update(row)
    for row in rows[1000:]:
        if len(row) > 6:
            keys.update(row)
    out = {}
    for key in keys:
        default = _default(key)
        dtype = "int64" if key in _INT_KEYS else bool if key == "ambiguous" else object
        out[key] = np.array([r.get(key, default) for r in rows], dtype=dtype) if rows \
            else np.zeros(0, dtype=dtype)
    return out


KIND_CODE = {k: i for i, k in enumerate(EVENT_KINDS)}


def kind_codes(kinds):
    """Kind names (object array; "" = unclassified -> other) -> int8 codes of EVENT_KINDS."""
    codes = np.full(len(kinds), KIND_CODE["other"], dtype="int8")
    named = np.flatnonzero(kinds != "")
    for i in named:
        codes[i] = KIND_CODE[kinds[i]]
    return codes


def sort_by_line(cols):
    """Stable order by line number (parsers may append synthetic events)."""
    line = cols.get("line")
    if line is None or len(line) < 2 or (np.diff(line) >= 0).all():
        return cols
    order = np.argsort(line, kind="stable")
    return {k: v[order] for k, v in cols.items() if not k.startswith("_")}


def to_frame(cols, ctx, fmt_name):
    """Columns of one file (after recognition) -> event table in the contract dtypes."""
    n = len(cols["ts_ns"])

    def get(key, default=None):
        if key in cols:
            return cols[key]
        return _fill(_default(key) if default is None else default, n, key)

    ts = cols["ts_ns"]
    quantum = get("quantum_ns")
    hi = get("ts_hi_ns")
    hi = np.where(hi >= 0, hi, ts)
    kind = cols["kind_code"] if "kind_code" in cols else kind_codes(get("kind"))
    tz_codes, tz_values = pd.factorize(get("tz_source"))
    out = {
        "ts_ns": ts,
        "kind": pd.Categorical.from_codes(kind, categories=list(EVENT_KINDS)),
        "source": constant_category(fmt_name, n),
        "file": constant_category(ctx.file, n),
        "line": get("line"),
        "raw_ts": get("raw_ts"),
        "quantum_ns": quantum,
        "message": get("message"),
        "t_lo_ns": ts.copy(),
        "t_hi_ns": hi + quantum,
        "source_clock": constant_category(ctx.clock, n),
        "boot_id": get("boot_id"),
        "mono_ns": get("mono_ns"),
        "tz_source": pd.Categorical.from_codes(tz_codes, categories=list(tz_values)),
        "iface": get("iface"),
        "probe_seq": get("probe_seq"),
        "probe_dst": get("probe_dst"),
        "probe_result": get("probe_result"),
        "src_ts_ns": ts.copy(),
        "segment": np.full(n, -1, dtype="int64"),
        "ambiguous": get("ambiguous").astype(bool),
        "ident": get("ident"),
        "rule": get("rule", ""),
    }
    return pd.DataFrame({k: pd.Series(v, dtype=object, copy=False)
                         if isinstance(v, np.ndarray) and v.dtype == object else v
                         for k, v in out.items()})


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
