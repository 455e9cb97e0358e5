"""rsyslog's RFC 3339 file format (RSYSLOG_FileFormat).

``2026-11-25T08:01:02.123456+01:00 host ident[pid]: message``: the zone is in the
stamp, fraction digits give the quantum (lines read as ``rfc3339_lines`` describes).
"""

from ksaudit.oslogs import rfc3339_lines

NAME = "rfc3339-syslog"
DESCRIPTION = "rsyslog RFC 3339 file format (2026-11-25T08:01:02.123456+01:00 host tag: msg)"


def sniff(head):
    """Score 0..1 that ``head`` is RFC 3339 syslog."""
    return 0.8 if rfc3339_lines.looks_like(head) else 0.0


def parse(path, ctx):
    """Yield one event per entry of ``path`` (``rfc3339_lines.read``)."""
    return rfc3339_lines.read(path, ctx)
