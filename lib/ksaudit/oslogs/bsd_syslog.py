"""Reading RFC 3164 (BSD) syslog lines: ``<PRI>Mmm dd hh:mm:ss host tag[pid]: message``.

Shared by the formats written in this shape (``syslog_rfc3164``, ``macos_syslog``).

No year and no zone: the zone must be declared; the year comes from ``year=``
(the year of the file's first line) or else the file's mtime (the year of its
last line), and a month going backwards by half a year or more (Dec -> Jan) is
a new year.  Month names may be English, German, French or Spanish.  Optional
fraction digits (``08:01:02.123456``, rsyslog high precision) set the quantum;
otherwise it is 1 s.  The common shape is cut by a compiled scanner
(``fastscan``); other lines (localised months…) go through a Python regex.

Also read, as plaso reads them: a tab-indented line continues the message above
it (joined with a newline); syslogd's ``last message repeated N times`` with or
without a host (``Dec  1 10:00:01 last message repeated 3 times``,
``Nov 18 01:15:43: --- last message repeated 5 times ---``) is an event of its
own with that text (the repeats themselves carry no time of their own, and a
repeated state change changes no state); a bare ``--- last message repeated N
times ---`` line without a stamp is skipped and counted in the notes.  Feb 29 is
read in a leap year (``year=`` / ``--year``, or the mtime's); in another year it
is a malformed line that says so.
"""

import os
import re
import time

import numpy as np

from ksaudit.oslogs import fastscan, vector
from ksaudit.oslogs.base import KEEP_BAD, Batch, read_head
from ksaudit.oslogs.timeutil import MONTHS

# Everything else (localised months, fractions, odd spacing) goes through this.
_SLOW = re.compile(r"^(?:<\d{1,3}>)?((?P<mon>[^\W\d_]{3,5})\.?\s{1,2}(?P<day>\d{1,2})\s"
                   r"(?P<hh>\d\d):(?P<mi>\d\d):(?P<ss>\d\d)(?:\.(?P<frac>\d{1,9}))?)\s+(?P<host>\S+)"
                   r"(?:\s+(?P<tag>[^\s:\[]+)(?:\[\d+\])?:)?\s?(?P<msg>.*)$")
# syslogd's repeat line without a host: "Mmm dd hh:mm:ss: --- last message repeated N times ---"
_REPEAT = re.compile(r"^(?:<\d{1,3}>)?((?P<mon>[^\W\d_]{3,5})\.?\s{1,2}(?P<day>\d{1,2})\s"
                     r"(?P<hh>\d\d):(?P<mi>\d\d):(?P<ss>\d\d)(?:\.(?P<frac>\d{1,9}))?):?\s+"
                     r"(?P<msg>(?:--- )?last message repeated \d+ times?(?: ---)?)\s*$")
_SNIFF = re.compile(rb"^(?:<\d{1,3}>)?[^\W\d_]{3,5}\.? {1,2}\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)?:? \S")
_SKIP = re.compile(r"^--- last message repeated \d+ times? ---$")


def looks_like(head):
    """True when at least half of the first lines of ``head`` (continuation lines
    aside) have the RFC 3164 shape."""
    lines = [ln for ln in head.split(b"\n")[:10] if ln.strip() and not ln.startswith(b"\t")]
    hits = sum(1 for ln in lines if _SNIFF.match(ln.decode("utf-8", "replace").encode()))
    return bool(lines) and hits >= (len(lines) + 1) // 2


def read(path, ctx):
    """Yield one Batch of the events in ``path``."""
    read_head(path, 1)
    with open(path, "rb") as fh:
        data = np.frombuffer(fh.read(), dtype=np.uint8)
    starts, ends, ok, f, pos = fastscan.scan_rfc3164(data)
    n = len(starts)
    zone = ctx.need_zone() if n else None
    month, day, hh, mi, ss, frac, quantum = (f[:, k].copy() for k in range(7))
    raw = np.full(n, "", dtype=object)
    tag = np.full(n, "", dtype=object)
    msg = np.full(n, "", dtype=object)
    rows = np.flatnonzero(ok)
    msg_arrow = None
    if len(rows) == n and n:
        raw = fastscan.gather(data, pos[:, 0], pos[:, 1])
        tag = fastscan.gather(data, pos[:, 2], pos[:, 3], repeated=True)
        msg, msg_arrow = fastscan.gather(data, pos[:, 4], pos[:, 5], arrow=True)
    elif len(rows):
        raw[rows] = fastscan.gather(data, pos[rows, 0], pos[rows, 1])
        tag[rows] = fastscan.gather(data, pos[rows, 2], pos[rows, 3])
        msg[rows] = fastscan.gather(data, pos[rows, 4], pos[rows, 5])
    bad_rows, bad_texts, bad_reasons, shaped = [], [], [], set()
    joined, bare = {}, 0            # continuation row -> the event row it extends
    for i in np.flatnonzero(~ok):
        text = bytes(data[starts[i]:ends[i]]).decode("utf-8", "replace").rstrip("\r")
        if not text.strip():
            continue
        if _SKIP.match(text):
            bare += 1
            continue
        if text.startswith("\t"):
            owner = joined.get(i - 1, i - 1 if i and ok[i - 1] else None)
            if owner is not None:
                joined[i] = owner
                msg[owner] = f"{msg[owner]}\n{text[1:]}"
                continue
        m = _SLOW.match(text) or _REPEAT.match(text)
        mon = MONTHS.get(m.group("mon").lower()) if m else None
        if mon is None:
            bad_rows.append(i)
            bad_texts.append(text)
            bad_reasons.append("not an RFC 3164 line")
            continue
        month[i], day[i] = mon, int(m.group("day"))
        hh[i], mi[i], ss[i] = int(m.group("hh")), int(m.group("mi")), int(m.group("ss"))
        frac[i], quantum[i] = 0, vector.NS
        if m.group("frac"):
            d = m.group("frac")
            frac[i], quantum[i] = int(d) * 10 ** (9 - len(d)), 10 ** (9 - len(d))
        raw[i], tag[i], msg[i] = m.group(1), m.groupdict().get("tag") or "", m.group("msg")
        ok[i] = True
    if joined:
        ctx.notes.append(f"{len(joined)} tab-indented continuation line(s) joined to the "
                         f"message above")
    if bare:
        ctx.notes.append(f"{bare} '--- last message repeated N times ---' line(s) without a "
                         f"time stamp skipped")
    rows = np.flatnonzero(ok)
    year = _years(month[rows], ctx, path)
    good = vector.valid_date(year, month[rows], day[rows], hh[rows], mi[rows], ss[rows])
    for i, y in zip(rows[~good], year[~good]):
        bad_rows.append(i)
        bad_texts.append(bytes(data[starts[i]:ends[i]]).decode("utf-8", "replace"))
        bad_reasons.append(_why_impossible(int(y), int(month[i]), int(day[i]), ctx))
        shaped.add(i)
    if bad_rows:
        order = np.argsort(np.asarray(bad_rows), kind="stable")
        for j in order[:KEEP_BAD]:
            ctx.bad(int(bad_rows[j]) + 1, bad_texts[j], bad_reasons[j], bad_rows[j] in shaped)
        ctx.malformed += len(bad_rows) - min(KEEP_BAD, len(bad_rows))
    rows, year = rows[good], year[good]
    lo, hi = vector.wall_to_utc(zone, year, month[rows], day[rows], hh[rows], mi[rows],
                                ss[rows], frac[rows])
    ambiguous = lo != hi
    ctx.ambiguous += int(ambiguous.sum())
    batch = Batch(ts_ns=lo, ts_hi_ns=np.where(ambiguous, hi, -1), ambiguous=ambiguous,
                  raw_ts=raw[rows], quantum_ns=quantum[rows], line=rows + 1, tz_source="declared",
                  ident=tag[rows], message=msg[rows])
    if msg_arrow is not None and len(rows) == n:
        batch.message_arrow = msg_arrow
    yield batch


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


def _why_impossible(year, month, day, ctx):
    """The malformed reason for a stamp that is no calendar time in its year."""
    if month == 2 and day == 29:
        whence = (f"the first line's year was given as {ctx.year}" if ctx.year is not None
                  else "the year came from the file's mtime")
        return (f"Feb 29 in {year}, not a leap year ({whence}); give the year of the "
                f"file's first line (year= / --year)")
    return "impossible date"
