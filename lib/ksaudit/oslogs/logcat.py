"""Android ``logcat -v threadtime`` with its modifiers.

``11-25 08:01:02.123  1234  1250 I Vpn     : setting state=CONNECTED, reason=agentConnect``

Modifiers: ``year`` (``2026-11-25 …``), ``usec``/``nsec`` (6/9 fraction digits:
the quantum), ``zone`` (`` +0100`` after the time: explicit), ``UTC`` (times in
UTC; invisible in the line, so declare timezone UTC), ``epoch``
(``1795587593.123`` seconds: UTC).  Without ``zone``/``epoch`` a timezone must be
declared; without ``year``, the year comes from ``year=`` or the file's mtime
(month roll-over as RFC 3164).  ``--------- beginning of …`` lines are skipped.
"""

import os
import re
import time

from ksaudit.oslogs.base import matched_lines, sniff_lines
from ksaudit.oslogs.timeutil import NS, check_date, frac_ns, naive_ns, parse_offset

NAME = "logcat"
DESCRIPTION = "Android logcat -v threadtime (year/usec/nsec/zone/UTC/epoch modifiers)"

_LINE = re.compile(
    rb"^((?:(\d{9,11})\.(\d{3,9}))|(?:(?:(\d{4})-)?(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3,9})))"
    rb"(?: ([+-]\d{4}))?\s+(\d+)\s+(\d+)\s+([VDIWEFSA])\s+(.*?)\s*: (.*?)\r?$")


def sniff(head):
    """Score 0..1 that ``head`` is logcat threadtime."""
    return sniff_lines(head, _LINE, 0.9, skip=b"---------")


def parse(path, ctx):
    """Yield one event per log line of ``path``."""
    pending = []   # rows without a year wait until the base year is known
    prev_month, delta = None, 0
    for n, m in matched_lines(path, ctx, _LINE, "a logcat threadtime", skip=b"---------"):
        raw, esec, efrac, y, mo, d, h, mi, s, frac, zone, _pid, _tid, _lvl, tag, msg = m.groups()
        row = {"line": n, "raw_ts": raw.decode() + (" " + zone.decode() if zone else ""),
               "ident": tag.decode("utf-8", "replace").strip(),
               "message": msg.decode("utf-8", "replace")}
        try:
            if esec:
                f_ns, row["quantum_ns"] = frac_ns(efrac)
                row["ts_ns"], row["tz_source"] = int(esec) * NS + f_ns, "assumed-utc"
                yield row
                continue
            f_ns, row["quantum_ns"] = frac_ns(frac)
            fields = (int(mo), int(d), int(h), int(mi), int(s), f_ns)
            if y is None:
                if prev_month is not None and prev_month - fields[0] >= 6:
                    delta += 1
                elif prev_month is not None and fields[0] - prev_month >= 6:
                    delta -= 1
                prev_month = fields[0]
                pending.append((row, delta, fields, zone))
                continue
            yield _stamp(ctx, row, int(y), fields, zone)
        except ValueError:
            ctx.bad(n, m.string, "impossible date or offset")
    if pending:
        if ctx.year is not None:
            base = ctx.year
        else:
            mtime = time.gmtime(os.stat(path).st_mtime)
            last_month = pending[-1][2][0]
            base = mtime.tm_year - (1 if last_month > mtime.tm_mon else 0) - pending[-1][1]
            ctx.notes.append(f"year from the file's mtime: last line in {base + pending[-1][1]}")
        for row, dl, fields, zone in pending:
            try:
                yield _stamp(ctx, row, base + dl, fields, zone)
            except ValueError:
                ctx.bad(row["line"], row["raw_ts"], "impossible date", shaped=True)


def _stamp(ctx, row, year, fields, zone):
    mo, d, h, mi, s, f_ns = fields
    if zone:
        check_date(year, mo, d, h, mi, s)
        row["ts_ns"] = naive_ns(year, mo, d, h, mi, s, f_ns) - parse_offset(zone.decode()) * NS
        row["tz_source"] = "explicit"
        return row
    return ctx.local(row, year, mo, d, h, mi, s, f_ns)
