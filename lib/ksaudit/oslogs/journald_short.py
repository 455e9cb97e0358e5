"""journald ``journalctl -o short-iso-precise`` (same line shape as rsyslog RFC 3339).

``2026-11-25T08:01:02.123456+0100 host ident[pid]: message``; ``-- Boot <id> --``
markers carry the boot id.  Lines are read as ``rfc3339_lines`` describes.
"""

from ksaudit.oslogs import rfc3339_lines

NAME = "journald-short-iso-precise"
DESCRIPTION = "journalctl -o short-iso-precise (µs, +0200 or +02:00 offsets)"


def sniff(head):
    """Score 0..1: like RFC 3339 syslog, preferred when journalctl's markers or µs show."""
    if not rfc3339_lines.looks_like(head):
        return 0.0
    first = head.split(b"\n", 1)[0]
    if b"-- Journal begins" in head or b"-- Logs begin" in head or b"-- Boot " in head:
        return 0.9
    m = rfc3339_lines.LINE.match(first)
    if m and m.group(8) and len(m.group(8)) == 6 and b":" not in m.group(9):
        return 0.85   # µs with a +0100-style offset: journalctl's, not rsyslog's
    return 0.75


def parse(path, ctx):
    """Yield one event per entry of ``path`` (``rfc3339_lines.read``)."""
    return rfc3339_lines.read(path, ctx)
