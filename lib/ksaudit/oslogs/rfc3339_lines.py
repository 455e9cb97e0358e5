"""Reading RFC 3339-stamped syslog lines, as rsyslog's file format and journalctl's
``short-iso-precise`` write them (shared by ``syslog_rfc3339`` and ``journald_short``).

``2026-11-25T08:01:02.123456+01:00 host ident[pid]: message`` — the zone is in
the stamp (``+0100`` and ``+01:00`` both occur; journalctl wrote ``+0100`` before
systemd 251), fraction digits give the quantum.  journalctl's ``-- Boot <id> --``
markers set the boot id of the lines after them; other ``-- … --`` lines and
indented continuation lines are not events.
"""

import re

from ksaudit.oslogs.base import open_lines
from ksaudit.oslogs.timeutil import iso_to_ns

LINE = re.compile(
    rb"^((\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?(Z|[+-]\d\d:?\d\d))"
    rb"\s+(\S+)\s+(?:([^\s:\[]+)(?:\[(\d+)\])?:\s?)?(.*?)\r?$")
BOOT = re.compile(rb"^-- Boot ([0-9a-f]{32}) --")


def looks_like(head):
    """True when at least half of the first lines of ``head`` (journalctl's ``-- ``
    markers aside) are RFC 3339-stamped syslog lines."""
    lines = [ln for ln in head.split(b"\n")[:10] if ln.strip() and not ln.startswith(b"-- ")]
    hits = sum(1 for ln in lines if LINE.match(ln))
    return bool(lines) and hits >= (len(lines) + 1) // 2


def read(path, ctx):
    """Yield one event per line of ``path``."""
    boot = ""
    last = None
    with open_lines(path) as fh:
        for n, line in enumerate(fh, 1):
            m = LINE.match(line)
            if m is None:
                stripped = line.strip()
                if not stripped:
                    continue
                b = BOOT.match(line)
                if b:
                    boot = b.group(1).decode()
                elif line.startswith(b"-- ") and stripped.endswith(b"--"):
                    pass
                elif line[:1] in (b" ", b"\t") and last is not None:
                    last["message"] += "\n" + stripped.decode("utf-8", "replace")
                else:
                    ctx.bad(n, line, "not an RFC 3339 syslog line")
                continue
            raw, y, mo, d, h, mi, s, frac, off, _host, tag, _pid, msg = m.groups()
            try:
                ts, quantum = iso_to_ns(y, mo, d, h, mi, s, frac, off)
            except ValueError:
                ctx.bad(n, line, "impossible date or offset")
                continue
            if last is not None:
                yield last
            last = {"ts_ns": ts, "raw_ts": raw.decode(), "quantum_ns": quantum, "line": n,
                    "tz_source": "explicit", "boot_id": boot,
                    "ident": (tag or b"").decode("utf-8", "replace"),
                    "message": msg.decode("utf-8", "replace")}
    if last is not None:
        yield last
