"""Windows EVTX through the ``evtx`` package (Rust parser; never hand-decoded here).

The package yields each record as JSON: ``timestamp`` (the record's FILETIME,
100 ns, "… UTC"; trailing zero digits are dropped, so the quantum is always
100 ns, never inferred from the digits) and ``data`` (the event as JSON).  The
message is ``EventID <id>: key=value; …`` from EventData/UserData and the
identifier is the provider name, so rules key on provider + ID (IDs collide
across providers).  ``line`` is the EventRecordID.  Power-Troubleshooter 1
carries its own SleepTime and WakeTime: it becomes a ``sleep`` and a ``wake``
event at those times (EventData times come out truncated to µs: quantum 1 µs).
"""

import json
import os
import re
import struct

from ksaudit.errors import KsauditError
from ksaudit.oslogs.base import read_head
from ksaudit.oslogs.timeutil import iso_to_ns

NAME = "evtx"
DESCRIPTION = "Windows EVTX event log (via the evtx package)"
_ISO = re.compile(r"^\s*(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)?")
POWER_TROUBLESHOOTER = "Microsoft-Windows-Power-Troubleshooter"


def sniff(head):
    """Score 0..1 that ``head`` is an EVTX file."""
    return 1.0 if head.startswith(b"ElfFile\x00") else 0.0


RECORD_QUANTUM_NS = 100     # FILETIME; evtx drops trailing zero digits, so never infer from digits
DATA_QUANTUM_NS = 1000      # times inside EventData come out of evtx truncated to µs


def stamp(text, quantum_ns=RECORD_QUANTUM_NS):
    """EVTX time text ('2018-07-06T18:37:44.8816283Z UTC') -> (ns, quantum); ValueError."""
    m = _ISO.match(text or "")
    if m is None:
        raise ValueError(f"bad time {text!r}")
    y, mo, d, h, mi, s, frac, off = m.groups()
    ts, _digits_quantum = iso_to_ns(y, mo, d, h, mi, s, frac, off or "Z")
    return ts, quantum_ns


def _flat(value):
    if isinstance(value, dict):
        if "#text" in value:
            return _flat(value["#text"])
        return "{" + ", ".join(f"{k}={_flat(v)}" for k, v in value.items() if k != "#attributes") + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    return "" if value is None else str(value)


def map_record(rec):
    """One ``records_json()`` item -> list of event rows (ValueError when unusable).

    Parameters
    ----------
    rec : dict
        ``{"event_record_id": int, "timestamp": str, "data": str (JSON)}`` as the
        ``evtx`` package yields it.

    Returns
    -------
    list of dict
        Event rows (usually one; two for Power-Troubleshooter 1).
    """
    event = json.loads(rec["data"]).get("Event") or {}
    system = event.get("System") or {}
    provider = ((system.get("Provider") or {}).get("#attributes") or {}).get("Name", "")
    event_id = system.get("EventID")
    if isinstance(event_id, dict):
        event_id = event_id.get("#text")
    event_id = int(event_id)
    ts, quantum = stamp(rec.get("timestamp", ""))
    data = event.get("EventData") or event.get("UserData") or {}
    fields = data if isinstance(data, dict) else {"Data": data}
    fields = {k: v for k, v in fields.items() if k != "#attributes"}
    body = "; ".join(f"{k}={_flat(v)}" for k, v in fields.items())
    message = f"EventID {event_id}: {body}".rstrip()
    line = int(rec.get("event_record_id") or system.get("EventRecordID") or 0)
    if not 0 <= line < 2**63:
        raise ValueError(f"EventRecordID {line} out of range")
    base = {"line": line, "ident": provider, "message": message, "tz_source": "explicit"}
    if provider == POWER_TROUBLESHOOTER and event_id == 1:
        rows = []
        for key, kind in (("SleepTime", "sleep"), ("WakeTime", "wake")):
            if isinstance(fields.get(key), str):
                t, q = stamp(fields[key], DATA_QUANTUM_NS)
                rows.append({**base, "ts_ns": t, "quantum_ns": q, "raw_ts": fields[key],
                             "kind": kind})
        if rows:
            return rows
    return [{**base, "ts_ns": ts, "quantum_ns": quantum, "raw_ts": rec.get("timestamp", "")}]


HEADER_BYTES = 4096
CHUNK_BYTES = 65536


def check_length(head, size):
    """Why an EVTX file of ``size`` bytes starting with ``head`` is cut short, or None.

    A file ends after its 4 KiB header and whole 64 KiB chunks; it holds at least
    the chunks its header counts (a dirty file's header may count fewer, never more).
    """
    if len(head) < 44 or size < HEADER_BYTES:
        return f"EVTX file cut short: {size} bytes, not even its {HEADER_BYTES}-byte header"
    (counted,) = struct.unpack_from("<H", head, 42)
    whole, part = divmod(size - HEADER_BYTES, CHUNK_BYTES)
    if part:
        return (f"EVTX file cut short: it ends {part} bytes into chunk {whole} "
                f"(that chunk's records are lost)")
    if whole < counted:
        return f"EVTX file cut short: its header counts {counted} chunks, it holds {whole}"
    return None


def parse(path, ctx):
    """Yield the events of the EVTX file ``path`` (a cut-short file counts one malformed
    entry, line 0, saying so)."""
    cut = check_length(read_head(path, HEADER_BYTES), os.path.getsize(path))
    if cut:
        ctx.bad(0, f"{os.path.getsize(path)} bytes", cut)
    try:
        import evtx
        parser = evtx.PyEvtxParser(str(path))
    except ImportError as exc:  # pragma: no cover
        raise KsauditError("reading EVTX needs the 'evtx' package (pip install evtx)") from exc
    except (OSError, RuntimeError) as exc:
        raise KsauditError(f"{path}: not a readable EVTX file: {exc}") from exc
    records = parser.records_json()
    n = 0
    while True:
        n += 1
        try:
            rec = next(records)
        except StopIteration:
            return
        except (RuntimeError, OSError, ValueError) as exc:
            ctx.bad(n, str(exc), "evtx could not decode this record")
            if ctx.malformed > 10000:
                return
            continue
        try:
            yield from map_record(rec)
        except (ValueError, KeyError, TypeError) as exc:
            ctx.bad(int(rec.get("event_record_id") or n), rec.get("data", "")[:200],
                    f"unusable record: {exc}")
