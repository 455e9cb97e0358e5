"""Legacy macOS ``/var/log/system.log``: RFC 3164-shaped (``kernel[0]: AirPort: Link Down on en0``).

Read as RFC 3164 lines (``bsd_syslog``): local time, so it needs a timezone; the year from
``year=`` or the file's mtime.
"""

from ksaudit.oslogs import bsd_syslog

NAME = "macos-system-log"
DESCRIPTION = "legacy macOS system.log (RFC 3164-shaped)"


def sniff(head):
    """Score 0..1: RFC 3164 lines with macOS markers."""
    if not bsd_syslog.looks_like(head):
        return 0.0
    if b"kernel[0]:" in head or b"com.apple." in head or b".local " in head:
        return 0.75
    return 0.0


def parse(path, ctx):
    """Yield the events of ``path`` (``bsd_syslog.read``)."""
    return bsd_syslog.read(path, ctx)
