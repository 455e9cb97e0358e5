"""wg-quick output: ``[#] ip link add wg0 type wireguard`` — no timestamp of its own.

wg-quick prints the commands it runs without any time.  Its lines carry one
only when something added it: journald (then read the journal instead), or a
prefix such as moreutils ``ts`` (``Nov 25 08:01:02 [#] …``, local, 1 s) or an
ISO 8601 stamp (``2026-11-25T08:01:02.123+01:00 [#] …``; without an offset it
is local).  Lines without a stamp are reported as malformed, never guessed.
"""

import re

from ksaudit.oslogs.base import numbered_lines
from ksaudit.oslogs.timeutil import MONTHS, frac_ns, iso_to_ns

NAME = "wg-quick"
DESCRIPTION = "wg-quick output ([#] commands), with a ts/ISO 8601 time prefix"

_ISO = re.compile(rb"^((\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?"
                  rb"(Z|[+-]\d\d:?\d\d)?) (.*?)\r?$")
_TS = re.compile(rb"^(([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?) (.*?)\r?$")
_BARE = re.compile(rb"^\[#\] ")


def sniff(head):
    """Score 0..1 that ``head`` is wg-quick output."""
    lines = [ln for ln in head.split(b"\n")[:10] if ln.strip()]
    hits = 0
    for ln in lines:
        m = _ISO.match(ln) or _TS.match(ln)
        rest = m.groups()[-1] if m else ln
        hits += bool(_BARE.match(rest))
    return 0.9 if lines and hits >= (len(lines) + 1) // 2 else 0.0


def parse(path, ctx):
    """Yield one event per stamped line of ``path``."""
    for n, line in numbered_lines(path):
        row = {"line": n, "ident": "wg-quick"}
        try:
            m = _ISO.match(line)
            if m:
                raw, y, mo, d, h, mi, s, frac, off, rest = m.groups()
                if off:
                    row["ts_ns"], row["quantum_ns"] = iso_to_ns(y, mo, d, h, mi, s, frac, off)
                    row["tz_source"] = "explicit"
                else:
                    f_ns, row["quantum_ns"] = frac_ns(frac)
                    ctx.local(row, int(y), int(mo), int(d), int(h), int(mi), int(s), f_ns)
            else:
                m = _TS.match(line)
                if m is None:
                    ctx.bad(n, line, "no timestamp (wg-quick writes none: read it from the "
                                     "journal, or prefix its lines with `ts`)")
                    continue
                raw, mon, d, h, mi, s, frac, rest = m.groups()
                if ctx.year is None:
                    ctx.bad(n, line, "a ts-style stamp has no year: pass year=")
                    continue
                f_ns, row["quantum_ns"] = frac_ns(frac)
                ctx.local(row, ctx.year, MONTHS.get(mon.decode().lower(), 0), int(d), int(h),
                          int(mi), int(s), f_ns)
        except ValueError:
            ctx.bad(n, line, "impossible date or offset")
            continue
        row["raw_ts"] = raw.decode()
        row["message"] = rest.decode("utf-8", "replace")
        yield row
