"""What the macOS ``log show`` styles share: the timestamp and the record -> row map."""

import os
import re

from ksaudit.oslogs.timeutil import iso_to_ns

# what `log show` may print before the records (with a --predicate, or without --info)
PREAMBLE = (b"Filtering the log data", b"Skipping info and debug")

STAMP = re.compile(r"^((\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?([+-]\d\d:?\d\d|Z))$")


def stamp_ns(text):
    """'2023-02-23 10:44:02.761747+0100' -> (ns, quantum); ValueError when malformed."""
    m = STAMP.match(text.strip())
    if m is None:
        raise ValueError(f"bad timestamp {text!r}")
    _raw, y, mo, d, h, mi, s, frac, off = m.groups()
    return iso_to_ns(y, mo, d, h, mi, s, frac, off)


def record_row(rec, line):
    """One ``log show`` JSON record -> event row (ValueError when it has no usable time)."""
    stamp = rec.get("timestamp")
    if not isinstance(stamp, str):
        raise ValueError("no timestamp")
    ts, quantum = stamp_ns(stamp)
    image = _text(rec, "processImagePath") or _text(rec, "senderImagePath")
    ident = os.path.basename(image) if image else _text(rec, "subsystem")
    message = rec.get("eventMessage")
    if message is None:
        message = rec.get("composedMessage") or ""
    return {"ts_ns": ts, "raw_ts": stamp, "quantum_ns": quantum, "line": line,
            "tz_source": "explicit", "boot_id": str(rec.get("bootUUID") or ""),
            "ident": ident, "message": str(message)}


def _text(rec, key):
    """A record's text field; "" when it is absent or not text (an edited or foreign
    record: ``"subsystem": true`` must not become an identifier)."""
    value = rec.get(key)
    return value if isinstance(value, str) else ""


def is_trailer(rec):
    """The closing ``{"count": N, "finished": 1}`` record of ndjson/json output."""
    return isinstance(rec, dict) and "finished" in rec and "timestamp" not in rec


def skip_preamble(head):
    """``head`` without the leading ``PREAMBLE`` lines (and blank lines)."""
    text = head.lstrip()
    while text.startswith(PREAMBLE):
        text = text.split(b"\n", 1)[1].lstrip() if b"\n" in text else b""
    return text
