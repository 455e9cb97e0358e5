"""NetworkManager lines: the embedded ``[sec.frac]`` stamp wins over the carrier's.

NetworkManager writes ``<info>  [1672204207.8319] device (wg0): state change: …``:
its own realtime clock, 100 µs resolution, epoch (UTC).  Whatever format
carried the line (journald, syslog, NetworkManager's own file), that stamp is
closer to the event than the journal's reception time, so ``stamp_frame``
replaces ts_ns/raw_ts/quantum_ns with it.  NetworkManager's own log file (or
``journalctl -o cat`` of it) is also a format of its own here.
"""

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ksaudit.oslogs.base import open_lines

NAME = "networkmanager"
DESCRIPTION = "NetworkManager's own log lines (<level>  [sec.frac] message)"
_STAMP = r"^<(?:trace|debug|info|warn|error)>\s+\[(?P<sec>\d{9,11})\.(?P<frac>\d{1,9})\]"
_LINE = re.compile(rb"^<(trace|debug|info|warn|error)>\s+\[((\d{9,11})\.(\d{1,9}))\]\s?(.*?)\r?$")


def sniff(head):
    """Score 0..1 that ``head`` is a bare NetworkManager log."""
    lines = [ln for ln in head.split(b"\n")[:10] if ln.strip()]
    hits = sum(1 for ln in lines if _LINE.match(ln))
    return 0.85 if lines and hits >= (len(lines) + 1) // 2 else 0.0


def parse(path, ctx):
    """Yield one event per NetworkManager line of ``path``."""
    with open_lines(path) as fh:
        for n, line in enumerate(fh, 1):
            m = _LINE.match(line)
            if m is None:
                if line.strip():
                    ctx.bad(n, line, "not a NetworkManager '<level>  [sec.frac]' line")
                continue
            _lvl, raw, sec, frac, _text = m.groups()
            yield {"ts_ns": int(sec) * 10**9 + int(frac.ljust(9, b"0")), "raw_ts": raw.decode(),
                   "quantum_ns": 10 ** (9 - len(frac)), "line": n, "tz_source": "assumed-utc",
                   "ident": "NetworkManager", "message": line.rstrip(b"\r\n").decode("utf-8", "replace")}


def stamp_frame(raw):
    """Replace the carrier's time by NetworkManager's embedded stamp, in place."""
    if not len(raw) or "message" not in raw:
        return raw
    msg = pa.array(raw["message"].to_numpy(dtype=object), pa.string())
    hit = pc.match_substring_regex(msg, _STAMP).to_numpy(zero_copy_only=False)
    if not hit.any():
        return raw
    rows = np.flatnonzero(hit)
    parts = pc.extract_regex(msg.take(pa.array(rows)), _STAMP)
    secs = parts.field("sec").to_pylist()
    fracs = parts.field("frac").to_pylist()
    ts = raw["ts_ns"].to_numpy(dtype="int64").copy()
    quantum = (raw["quantum_ns"].to_numpy(dtype="int64").copy() if "quantum_ns" in raw
               else np.ones(len(raw), "int64"))
    raw_ts = (raw["raw_ts"].to_numpy(dtype=object).copy() if "raw_ts" in raw
              else np.full(len(raw), "", dtype=object))
    tz_source = (raw["tz_source"].to_numpy(dtype=object).copy() if "tz_source" in raw
                 else np.full(len(raw), "explicit", dtype=object))
    hi = raw["ts_hi_ns"].to_numpy(dtype="int64").copy() if "ts_hi_ns" in raw else None
    for r, s, f in zip(rows, secs, fracs):
        ts[r] = int(s) * 10**9 + int(f.ljust(9, "0"))
        quantum[r] = 10 ** (9 - len(f))
        raw_ts[r] = f"{s}.{f}"
        tz_source[r] = "assumed-utc"
        if hi is not None:
            hi[r] = -1
    raw["ts_ns"], raw["quantum_ns"], raw["raw_ts"], raw["tz_source"] = ts, quantum, raw_ts, tz_source
    if hi is not None:
        raw["ts_hi_ns"] = hi
        if "ambiguous" in raw:
            amb = raw["ambiguous"].to_numpy(dtype=object).copy()
            amb[rows] = False
            raw["ambiguous"] = amb
    return raw
