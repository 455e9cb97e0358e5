"""wireguard-go's own log (``LOG_LEVEL=verbose|debug|error``), as written to stdout.

Go's ``log`` package with ``Ldate|Ltime``: local wall time, 1 s, no zone, after
the level and interface prefix (device/logger.go)::

    DEBUG: (wg0) 2026/11/25 08:01:02 Interface state was Up, requested Down, now Down

Older releases used ``INFO:``/``ERROR:`` levels; a missing ``(iface)`` prefix is
accepted.  Needs a declared timezone.
"""

import re

from ksaudit.oslogs.base import matched_lines, sniff_lines
from ksaudit.oslogs.timeutil import NS

NAME = "wireguard-go"
DESCRIPTION = "wireguard-go daemon log (LEVEL: (iface) YYYY/MM/DD HH:MM:SS msg), local time"
QUANTUM_NS = NS

_LINE = re.compile(
    rb"^(DEBUG|INFO|ERROR|VERBOSE|WARNING): (?:\(([^)]*)\) )?"
    rb"((\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?) ?(.*?)\r?$")


def sniff(head):
    """Score 0..1 that ``head`` is a wireguard-go log."""
    return sniff_lines(head, _LINE, 0.9)


def parse(path, ctx):
    """Yield one event per log line of ``path``."""
    for n, m in matched_lines(path, ctx, _LINE, "a wireguard-go log"):
        level, iface, raw, y, mo, d, h, mi, s, frac, text = m.groups()
        frac_ns, quantum = 0, QUANTUM_NS
        if frac:
            frac_ns = int(frac.ljust(9, b"0"))
            quantum = 10 ** (9 - len(frac))
        row = {"raw_ts": raw.decode(), "quantum_ns": quantum, "line": n,
               "ident": "wireguard-go", "iface": (iface or b"").decode("utf-8", "replace"),
               "message": text.decode("utf-8", "replace")}
        try:
            ctx.local(row, int(y), int(mo), int(d), int(h), int(mi), int(s), frac_ns)
        except ValueError:
            ctx.bad(n, m.string, "impossible date")
            continue
        yield row
