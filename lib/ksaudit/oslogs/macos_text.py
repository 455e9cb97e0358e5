"""macOS ``log show`` default and compact text styles.

Default::

    Timestamp                       Thread     Type        Activity             PID    TTL
    2023-02-23 10:44:02.761747+0100 0x1a2b     Default     0x0                  123    0    configd: [com.apple.SystemConfiguration:IPMonitor] network changed: v4(en0+:192.0.2.5)

Compact (``--style compact``, ms, no offset: local time, needs a timezone)::

    2023-02-23 10:44:02.761 Df configd[123:1a2b] [com.apple.SystemConfiguration:IPMonitor] network changed

Header, "Filtering the log data…" and the closing summary lines are not events.
"""

import re

from ksaudit.oslogs.base import numbered_lines
from ksaudit.oslogs.timeutil import frac_ns, iso_to_ns

NAME = "macos-log-text"
DESCRIPTION = "macOS log show default/compact text"

_DEFAULT = re.compile(
    rb"^((\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{1,9})([+-]\d{4}))\s+0x[0-9a-f]+\s+(\w+)"
    rb"\s+0x[0-9a-f]+\s+(\d+)\s+\d+\s+(.*?)\r?$")
_COMPACT = re.compile(
    rb"^((\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{1,9}))\s+([A-Z][a-z])\s+(.*?)\r?$")
_PROCESS = re.compile(r"^([^:\[]+?)(?:\[[\d:a-f]+\])?: (?:\([^)]*\) )?(?:\[[^\]]*\] )?(.*)$", re.S)
_NOISE = (b"Timestamp ", b"Filtering the log data", b"Skipping info and debug", b"Log      -",
          b"--------", b" --------", b"Activity ", b"Ttl ")   # log show indents its closing rule


def sniff(head):
    """Score 0..1 that ``head`` is log show text output."""
    lines = [ln for ln in head.split(b"\n")[:12] if ln.strip() and not ln.startswith(_NOISE)]
    hits = sum(1 for ln in lines if _DEFAULT.match(ln) or _COMPACT.match(ln))
    if lines and hits >= (len(lines) + 1) // 2:
        return 0.9
    return 0.0


def parse(path, ctx):
    """Yield one event per log line of ``path``."""
    for n, line in numbered_lines(path, _NOISE):
        row = {"line": n}
        try:
            m = _DEFAULT.match(line)
            if m:
                raw, y, mo, d, h, mi, s, frac, off, _type, _pid, rest = m.groups()
                row["ts_ns"], row["quantum_ns"] = iso_to_ns(y, mo, d, h, mi, s, frac, off)
                row["tz_source"] = "explicit"
            elif (m := _COMPACT.match(line)) is not None:
                raw, y, mo, d, h, mi, s, frac, _type, rest = m.groups()
                f_ns, row["quantum_ns"] = frac_ns(frac)
                ctx.local(row, int(y), int(mo), int(d), int(h), int(mi), int(s), f_ns)
            else:
                ctx.bad(n, line, "not a log show line")
                continue
        except ValueError:
            ctx.bad(n, line, "impossible date or offset")
            continue
        text = rest.decode("utf-8", "replace")
        p = _PROCESS.match(text)
        row["ident"], row["message"] = (p.group(1).strip(), p.group(2)) if p else ("", text)
        row["raw_ts"] = raw.decode()
        yield row
