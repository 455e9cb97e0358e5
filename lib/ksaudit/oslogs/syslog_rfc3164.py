"""RFC 3164 (BSD) syslog: ``<PRI>Mmm dd hh:mm:ss host tag[pid]: message``.

Local time without a year or zone: the zone must be declared, the year comes from
``year=`` or the file's mtime; localised month names, fractions, continuation and
"last message repeated" lines are read as ``bsd_syslog`` describes.
"""

from ksaudit.oslogs import bsd_syslog

NAME = "rfc3164"
DESCRIPTION = "RFC 3164 / BSD syslog (Mmm dd hh:mm:ss host tag[pid]: msg), local time, no year"


def sniff(head):
    """Score 0..1 that ``head`` is RFC 3164 syslog."""
    return 0.7 if bsd_syslog.looks_like(head) else 0.0


def parse(path, ctx):
    """Yield the events of ``path`` (``bsd_syslog.read``)."""
    return bsd_syslog.read(path, ctx)
