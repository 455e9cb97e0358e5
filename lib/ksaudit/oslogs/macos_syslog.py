"""Legacy macOS ``/var/log/system.log``: RFC 3164-shaped (``kernel[0]: AirPort: Link Down on en0``).

Parsed exactly as ``rfc3164`` (local time: needs a timezone; year from
``year=`` or the file's mtime).
"""

from ksaudit.oslogs import syslog_rfc3164

NAME = "macos-system-log"
DESCRIPTION = "legacy macOS system.log (RFC 3164-shaped)"


def sniff(head):
    """Score 0..1: RFC 3164 lines with macOS markers."""
    if not syslog_rfc3164.sniff(head):
        return 0.0
    if b"kernel[0]:" in head or b"com.apple." in head or b".local " in head:
        return 0.75
    return 0.0


def parse(path, ctx):
    """Yield the events of ``path`` (see ``syslog_rfc3164.parse``)."""
    return syslog_rfc3164.parse(path, ctx)
