"""wireguard-go's own log (``LOG_LEVEL=verbose|debug|error``), as written to stdout.

Go's ``log`` package with ``Ldate|Ltime``: local wall time, 1 s, no zone, after
the level and interface prefix (device/logger.go)::

    DEBUG: (wg0) 2026/11/25 08:01:02 Interface state was Up, requested Down, now Down

Older releases used ``INFO:``/``ERROR:`` levels; a missing ``(iface)`` prefix is
accepted.  Needs a declared timezone.

Started on Linux (or FreeBSD, OpenBSD) other than as its own daemonised child,
wireguard-go first prints to stderr a box drawn with UTF-8 line characters
("Running wireguard-go is not required because this kernel has first class
support for WireGuard ..."), so a log taken with ``2>&1`` begins with it.  Before
the first log line it is a preamble (``base.ParseContext.settle``); a banner
later in the file (a restart appending to the same log) is skipped and noted,
not counted as malformed.
"""

import re

from ksaudit.oslogs.base import numbered_lines, sniff_lines
from ksaudit.oslogs.timeutil import NS

NAME = "wireguard-go"
DESCRIPTION = "wireguard-go daemon log (LEVEL: (iface) YYYY/MM/DD HH:MM:SS msg), local time"
QUANTUM_NS = NS

_LINE = re.compile(
    rb"^(DEBUG|INFO|ERROR|VERBOSE|WARNING): (?:\(([^)]*)\) )?"
    rb"((\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?) ?(.*?)\r?$")
# A line of the kernel-support banner: starts with a box corner or side (U+250C,
# U+2502, U+2514 in UTF-8).
_BANNER = re.compile(rb"^\s*(?:\xe2\x94\x8c|\xe2\x94\x82|\xe2\x94\x94)")


def sniff(head):
    """Score 0..1 that ``head`` is a wireguard-go log."""
    return sniff_lines(head, _LINE, 0.9)


def parse(path, ctx):
    """Yield one event per log line of ``path``."""
    started, banner = False, []
    for n, line in numbered_lines(path, b"\x00"):
        m = _LINE.match(line)
        if m is None:
            if started and _BANNER.match(line):
                banner.append(n)
            else:
                ctx.bad(n, line, "not a wireguard-go log line")
            continue
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
            ctx.bad(n, m.string, "impossible date", shaped=True)
            continue
        started = True
        yield row
    if banner:
        ctx.notes.append(f"skipped {len(banner)} line(s) of wireguard-go's kernel-support "
                         f"banner after the first log line (from line {banner[0]}: a restart "
                         f"appending to the same log)")
