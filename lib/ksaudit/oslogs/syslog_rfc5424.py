"""RFC 5424 syslog: ``<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG``.

The timestamp is RFC 3339 with a zone (or ``-``, which has no time and is
counted malformed); fraction digits give the quantum; the identifier is
APP-NAME; structured data is kept in front of the message text.
"""

import re

from ksaudit.oslogs.base import matched_lines, sniff_lines
from ksaudit.oslogs.timeutil import iso_to_ns

NAME = "rfc5424"
DESCRIPTION = "RFC 5424 syslog (<PRI>1 2026-11-25T08:01:02.123Z host app procid msgid [sd] msg)"

_LINE = re.compile(
    rb"^<(\d{1,3})>1 (-|((\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)))"
    rb" (\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (.*?))?\r?$")


def sniff(head):
    """Score 0..1 that ``head`` is RFC 5424."""
    return sniff_lines(head, _LINE, 0.95)


def parse(path, ctx):
    """Yield one event per line of ``path``."""
    for n, m in matched_lines(path, ctx, _LINE, "an RFC 5424"):
        (_pri, stamp, raw, y, mo, d, h, mi, s, frac, off,
         _host, app, _procid, _msgid, sd, msg) = m.groups()
        if stamp == b"-":
            ctx.bad(n, m.string, "NILVALUE timestamp")
            continue
        try:
            ts, quantum = iso_to_ns(y, mo, d, h, mi, s, frac, off)
        except ValueError:
            ctx.bad(n, m.string, "impossible date or offset")
            continue
        text = (msg or b"").removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace")
        if sd != b"-":
            text = f"{sd.decode('utf-8', 'replace')} {text}".rstrip()
        yield {"ts_ns": ts, "raw_ts": raw.decode(), "quantum_ns": quantum, "line": n,
               "tz_source": "explicit", "ident": "" if app == b"-" else app.decode("utf-8", "replace"),
               "message": text}
