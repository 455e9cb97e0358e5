"""RFC 3164 (BSD) syslog: ``<PRI>Mmm dd hh:mm:ss host tag[pid]: message``.

No year and no zone: the zone must be declared; the year comes from ``year=``
(the year of the file's first line) or else the file's mtime (the year of its
last line), and a month going backwards by half a year or more (Dec -> Jan) is
a new year.  Month names may be English, German, French or Spanish.  Optional
fraction digits (``08:01:02.123456``, rsyslog high precision) set the quantum;
otherwise it is 1 s.  Parsed column-wise (pyarrow RE2 + numpy) for speed.
"""

import os
import re
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ksaudit.oslogs import vector
from ksaudit.oslogs.base import read_head

NAME = "rfc3164"
DESCRIPTION = "RFC 3164 / BSD syslog (Mmm dd hh:mm:ss host tag[pid]: msg), local time, no year"

MONTHS = {}
for _names in (
        "jan feb mar apr may jun jul aug sep oct nov dec",          # English
        "jan feb mär apr mai jun jul aug sep okt nov dez",          # German
        "jan feb mrz apr mai jun jul aug sep okt nov dez",          # German (Austria/older)
        "janv févr mars avr mai juin juil août sept oct nov déc",   # French
        "ene feb mar abr may jun jul ago sep oct nov dic"):         # Spanish
    for _i, _n in enumerate(_names.split(), 1):
        MONTHS.setdefault(_n, _i)

# The common shape, checked column-wise; fields are then cut at fixed offsets.
_FAST = r"^[A-Z][a-z]{2} [ 1-3]\d [0-2]\d:[0-5]\d:[0-6]\d \S"
# Everything else (localised months, fractions, odd spacing) goes through this.
_SLOW = re.compile(r"^(?:<\d{1,3}>)?((?P<mon>[^\W\d_]{3,5})\.?\s{1,2}(?P<day>\d{1,2})\s"
                   r"(?P<hh>\d\d):(?P<mi>\d\d):(?P<ss>\d\d)(?:\.(?P<frac>\d{1,9}))?)\s+(?P<host>\S+)"
                   r"(?:\s+(?P<tag>[^\s:\[]+)(?:\[\d+\])?:)?\s?(?P<msg>.*)$")
_SNIFF = re.compile(rb"^(?:<\d{1,3}>)?[^\W\d_]{3,5}\.? {1,2}\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)? \S")
_SKIP = r"^--- last message repeated \d+ times? ---$"


def sniff(head):
    """Score 0..1 that ``head`` is RFC 3164 syslog."""
    lines = [ln for ln in head.split(b"\n")[:10] if ln.strip()]
    hits = sum(1 for ln in lines if _SNIFF.match(ln.decode("utf-8", "replace").encode()))
    return 0.7 if lines and hits >= (len(lines) + 1) // 2 else 0.0


def _month_numbers(mon):
    names = pc.utf8_lower(mon)
    keys = pa.array(list(MONTHS), pa.string())
    idx = pc.fill_null(pc.index_in(names, value_set=keys), -1).to_numpy(zero_copy_only=False)
    lookup = np.array([0] + list(MONTHS.values()), dtype="int64")
    return lookup[idx.astype("int64") + 1]


def _fast_fields(lines):
    """Fields of the lines in the common shape, cut column-wise (pyarrow)."""
    cut = lambda a, b: pc.utf8_slice_codeunits(lines, a, b)  # noqa: E731
    rest = cut(16, 1 << 30)                                  # "host tag[pid]: message"
    tag = pc.extract_regex(rest, r"^\S+ (?P<tag>[^\s:\[]+)(?:\[\d+\])?:").field("tag")
    msg = pc.replace_substring_regex(rest, r"^\S+ ?(?:[^\s:\[]+(?:\[\d+\])?: ?)?", "")
    return {"mon": cut(0, 3), "day": pc.utf8_trim_whitespace(cut(4, 6)), "hh": cut(7, 9),
            "mi": cut(10, 12), "ss": cut(13, 15), "raw": cut(0, 15),
            "tag": pc.fill_null(tag, ""), "msg": msg}


def parse(path, ctx):
    """Yield one DataFrame batch of the events in ``path``."""
    read_head(path, 1)
    lines = vector.read_lines(path)
    n = len(lines)
    zone = ctx.need_zone() if n else None
    if n and pc.any(pc.starts_with(lines, "<")).as_py():
        lines = pc.replace_substring_regex(lines, r"^<\d{1,3}>", "")
    fast = pc.match_substring_regex(lines, _FAST).to_numpy(zero_copy_only=False)
    month = np.zeros(n, "int64")
    day, hh, mi, ss, frac = (np.zeros(n, "int64") for _ in range(5))
    quantum = np.full(n, vector.NS, "int64")
    raw = np.full(n, "", dtype=object)
    tag = np.full(n, "", dtype=object)
    msg = np.full(n, "", dtype=object)
    if fast.any():
        idx = np.flatnonzero(fast)
        f = _fast_fields(lines.filter(pa.array(fast)))
        month[idx] = _month_numbers(f["mon"])
        day[idx], hh[idx] = vector.ints(f["day"]), vector.ints(f["hh"])
        mi[idx], ss[idx] = vector.ints(f["mi"]), vector.ints(f["ss"])
        raw[idx] = f["raw"].to_numpy(zero_copy_only=False)
        tag[idx] = f["tag"].to_numpy(zero_copy_only=False)
        msg[idx] = f["msg"].to_numpy(zero_copy_only=False)
    ok = fast & (month > 0)
    slow = np.flatnonzero(~ok)
    texts = lines.take(pa.array(slow)).to_pylist() if len(slow) else []
    bad_rows, bad_texts, bad_reasons = [], [], []
    for i, text in zip(slow, texts):
        m = _SLOW.match(text)
        mon = MONTHS.get(m.group("mon").lower()) if m else None
        if mon is None:
            if text.strip() and not re.match(_SKIP, text):
                bad_rows.append(i)
                bad_texts.append(text)
                bad_reasons.append("not an RFC 3164 line")
            continue
        month[i], day[i] = mon, int(m.group("day"))
        hh[i], mi[i], ss[i] = int(m.group("hh")), int(m.group("mi")), int(m.group("ss"))
        if m.group("frac"):
            d = m.group("frac")
            frac[i], quantum[i] = int(d) * 10 ** (9 - len(d)), 10 ** (9 - len(d))
        raw[i], tag[i], msg[i] = m.group(1), m.group("tag") or "", m.group("msg")
        ok[i] = True
    rows = np.flatnonzero(ok)
    year = _years(month[rows], ctx, path)
    good = vector.valid_date(year, month[rows], day[rows], hh[rows], mi[rows], ss[rows])
    for i in rows[~good]:
        bad_rows.append(i)
        bad_texts.append(None)
        bad_reasons.append("impossible date")
    if bad_rows:
        order = np.argsort(np.asarray(bad_rows), kind="stable")
        for j in order[:5]:
            text = bad_texts[j] if bad_texts[j] is not None else lines[int(bad_rows[j])].as_py()
            ctx.bad(int(bad_rows[j]) + 1, text, bad_reasons[j])
        ctx.malformed += len(bad_rows) - min(5, len(bad_rows))
    rows, year = rows[good], year[good]
    lo, hi = vector.wall_to_utc(zone, year, month[rows], day[rows], hh[rows], mi[rows], ss[rows],
                                frac[rows])
    ambiguous = lo != hi
    ctx.ambiguous += int(ambiguous.sum())
    yield pd.DataFrame({
        "ts_ns": lo, "ts_hi_ns": np.where(ambiguous, hi, -1), "ambiguous": ambiguous,
        "raw_ts": pd.Series(raw[rows], dtype=object), "quantum_ns": quantum[rows],
        "line": rows + 1, "tz_source": "declared",
        "ident": pd.Series(tag[rows], dtype=object), "message": pd.Series(msg[rows], dtype=object)})


def _years(month, ctx, path):
    """Per-line year: a base year plus roll-overs where the month jumps by ≥ 6."""
    if not len(month):
        return month.copy()
    step = np.zeros(len(month), "int64")
    diff = np.diff(month)
    step[1:] = (diff <= -6).astype("int64") - (diff >= 6).astype("int64")
    delta = np.cumsum(step)
    if ctx.year is not None:
        base = ctx.year
    else:
        mtime = time.gmtime(os.stat(path).st_mtime)
        last_year = mtime.tm_year - (1 if month[-1] > mtime.tm_mon else 0)
        base = last_year - int(delta[-1])
        ctx.notes.append(f"year from the file's mtime: last line in {last_year}")
    return base + delta
