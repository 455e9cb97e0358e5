"""OpenVPN logs: ISO (2.5+) or ctime (2.4) local stamps, ``us=``, machine-readable.

* ``2024-01-31 22:38:26 us=154599 Initialization Sequence Completed``
* ``Tue Jan 31 22:38:26 2017 us=54599 …`` — ``us=`` is microseconds, not
  zero-padded (``--verb`` ≥ 4); without it the quantum is 1 s
* ``--machine-readable-output``: ``1485902306.154599 1 message`` (epoch.usec, flags)

ISO and ctime stamps are local time: a timezone must be declared.
"""

import re

from ksaudit.oslogs.base import numbered_lines
from ksaudit.oslogs.timeutil import MONTHS, NS

NAME = "openvpn"
DESCRIPTION = "OpenVPN log (ISO or ctime local stamps, us=, --machine-readable-output)"

_ISO = re.compile(rb"^((\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d))(?: us=(\d{1,6}))? (.*?)\r?$")
_CTIME = re.compile(rb"^([A-Z][a-z]{2} ([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4}))"
                    rb"(?: us=(\d{1,6}))? (.*?)\r?$")
_MACHINE = re.compile(rb"^((\d{9,11})\.(\d{1,9})) ([0-9a-fA-F]+) (.*?)\r?$")


def sniff(head):
    """Score 0..1 that ``head`` is an OpenVPN log."""
    lines = [ln for ln in head.split(b"\n")[:10] if ln.strip()]
    if not lines:
        return 0.0
    iso = sum(1 for ln in lines if _ISO.match(ln))
    ctime = sum(1 for ln in lines if _CTIME.match(ln))
    machine = sum(1 for ln in lines if _MACHINE.match(ln))
    need = (len(lines) + 1) // 2
    if ctime >= need or machine >= need:
        return 0.8
    if iso >= need:
        return 0.8 if (b"OpenVPN" in head or b" us=" in head) else 0.5
    return 0.0


def parse(path, ctx):
    """Yield one event per log line of ``path``."""
    for n, line in numbered_lines(path):
        row = {"line": n, "ident": "openvpn"}
        try:
            m = _ISO.match(line)
            if m:
                raw, y, mo, d, h, mi, s, us, msg = m.groups()
                ctx.local(row, int(y), int(mo), int(d), int(h), int(mi), int(s),
                          int(us) * 1000 if us else 0)
            elif (m := _CTIME.match(line)) is not None:
                raw, mon, d, h, mi, s, y, us, msg = m.groups()
                ctx.local(row, int(y), MONTHS.get(mon.decode().lower(), 0), int(d), int(h),
                          int(mi), int(s), int(us) * 1000 if us else 0)
            elif (m := _MACHINE.match(line)) is not None:
                raw, sec, frac, _flags, msg = m.groups()
                row["ts_ns"] = int(sec) * NS + int(frac.ljust(9, b"0"))
                row["tz_source"] = "assumed-utc"
                us = frac
            else:
                ctx.bad(n, line, "not an OpenVPN log line (no ISO, ctime or epoch stamp)")
                continue
        except ValueError:
            ctx.bad(n, line, "impossible date", shaped=True)
            continue
        if m.re is _MACHINE:
            row["quantum_ns"] = 10 ** (9 - min(len(us), 9))
        else:
            row["quantum_ns"] = 1000 if us else NS
        raw_text = raw.decode()
        if us and m.re is not _MACHINE:
            raw_text += f" us={us.decode()}"
        row["raw_ts"] = raw_text
        row["message"] = msg.decode("utf-8", "replace")
        yield row
