"""journald ``journalctl -o export``: the Journal Export Format.

Entries are ``KEY=value`` lines separated by a blank line; a field whose value
is binary (or holds a newline) is ``KEY\\n`` + little-endian 64-bit length +
the bytes + ``\\n``.  ``line`` is the entry's 1-based record number.  Times as
in ``journald-json`` (``journal``).
"""

import struct

import numpy as np

from ksaudit.oslogs.base import read_head
from ksaudit.oslogs.journal import QUANTUM_NS, clock_steps
from ksaudit.oslogs.timeutil import MAX_NS

NAME = "journald-export"
DESCRIPTION = "journalctl -o export (Journal Export Format, binary fields too)"
_WANTED = {b"__REALTIME_TIMESTAMP", b"__MONOTONIC_TIMESTAMP", b"_SOURCE_REALTIME_TIMESTAMP",
           b"_BOOT_ID", b"MESSAGE", b"SYSLOG_IDENTIFIER", b"_COMM"}


def sniff(head):
    """Score 0..1 that ``head`` is the journal export format."""
    first = head.split(b"\n", 1)[0]
    if first.startswith((b"__CURSOR=", b"__REALTIME_TIMESTAMP=", b"__SEQNUM=")):
        return 0.95
    return 0.0


def _entries(data, ctx):
    """Yield (record number, {field: bytes}) per entry; malformed entries are counted."""
    pos, n, record, fields, bad = 0, len(data), 1, {}, None
    while pos < n:
        nl = data.find(b"\n", pos)
        if nl < 0:
            nl = n
        line = data[pos:nl]
        if not line:
            if fields or bad:
                if bad:
                    ctx.bad(record, bad[1], bad[0])
                else:
                    yield record, fields
                record += 1
            fields, bad, pos = {}, None, nl + 1
            continue
        eq = line.find(b"=")
        if eq < 0:  # binary field: name, le64 size, data, newline
            if nl + 9 > n:
                ctx.bad(record, line, "binary field cut short")
                return
            (size,) = struct.unpack_from("<Q", data, nl + 1)
            end = nl + 9 + size
            if end > n or (end < n and data[end:end + 1] != b"\n"):
                ctx.bad(record, line, f"binary field {line[:40]!r} of {size} bytes runs past "
                                      "its entry")
                return
            if line in _WANTED:
                fields[line] = data[nl + 9:end]
            pos = end + 1
        else:
            name = line[:eq]
            if name in _WANTED:
                fields[name] = line[eq + 1:]
            elif not name or not name.replace(b"_", b"").isalnum():
                bad = bad or ("not a KEY=value line", line)
            pos = nl + 1
    if fields and not bad:
        yield record, fields
    elif bad:
        ctx.bad(record, bad[1], bad[0])


def parse(path, ctx):
    """Yield one event per journal entry of ``path``."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        read_head(path)  # raises the project error
        raise
    lines, rts, monos, boots = [], [], [], []
    for record, f in _entries(data, ctx):
        stamp = f.get(b"_SOURCE_REALTIME_TIMESTAMP") or f.get(b"__REALTIME_TIMESTAMP")
        if stamp is None or not stamp.isdigit():
            ctx.bad(record, b"", "entry without a numeric __REALTIME_TIMESTAMP")
            continue
        boot = f.get(b"_BOOT_ID", b"").decode("ascii", "replace")
        mono_us = _us(f.get(b"__MONOTONIC_TIMESTAMP", b""))
        ident = f.get(b"SYSLOG_IDENTIFIER") or f.get(b"_COMM") or b""
        lines.append(record)
        rts.append(_us(f.get(b"__REALTIME_TIMESTAMP", b"")))
        monos.append(mono_us)
        boots.append(boot)
        yield {"ts_ns": int(stamp) * 1000, "raw_ts": stamp.decode(), "quantum_ns": QUANTUM_NS,
               "line": record, "tz_source": "assumed-utc", "boot_id": boot,
               "mono_ns": mono_us * 1000 if mono_us >= 0 else -1,
               "ident": ident.decode("utf-8", "replace"),
               "message": f.get(b"MESSAGE", b"").decode("utf-8", "replace")}
    yield from clock_steps(np.array(lines, "int64"), np.array(rts, "int64"),
                           np.array(monos, "int64"), np.array(boots, object))


def _us(text):
    """A µs field (bytes) -> int, or -1 when it is not a number an int64 ns can hold."""
    value = int(text) if text.isdigit() else -1
    return value if value < MAX_NS // 1000 else -1
