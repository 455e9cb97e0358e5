"""Stamps embedded in a message that win over the carrier's: NetworkManager's own.

NetworkManager writes ``<info>  [1672204207.8319] device (wg0): state change: …``:
its own realtime clock, 100 µs resolution, epoch (UTC).  Whatever format carried
the line (journald, syslog, NetworkManager's own file), that stamp is closer to the
event than the carrier's reception time; the pipeline applies ``stamp_frame`` to
every file's events.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ksaudit.oslogs import timeutil

_STAMP = r"^<(?:trace|debug|info|warn|error)>\s+\[(?P<sec>\d{9,11})\.(?P<frac>\d{1,9})\]"


def stamp_frame(cols, messages=None):
    """Replace the carrier's time by NetworkManager's embedded stamp, in place.

    ``cols`` is a {column: numpy array} mapping (base.collect); ``messages`` may
    pass the message column already as a pyarrow string array.
    """
    n = len(cols["ts_ns"])
    if not n or "message" not in cols:
        return cols
    msg = messages if messages is not None else pa.array(cols["message"], pa.string())
    hit = pc.starts_with(msg, "<").to_numpy(zero_copy_only=False)
    if not hit.any():
        return cols
    maybe = np.flatnonzero(hit)
    hit[maybe] = pc.match_substring_regex(msg.take(pa.array(maybe)), _STAMP).to_numpy(
        zero_copy_only=False)
    if not hit.any():
        return cols
    rows = np.flatnonzero(hit)
    parts = pc.extract_regex(msg.filter(pa.array(hit)), _STAMP)
    sec = pc.cast(parts.field("sec"), pa.int64()).to_numpy(zero_copy_only=False)
    frac_text = parts.field("frac")
    width = pc.utf8_length(frac_text).to_numpy(zero_copy_only=False).astype("int64")
    frac = pc.cast(pc.utf8_rpad(frac_text, 9, "0"), pa.int64()).to_numpy(zero_copy_only=False)
    raw_text = pc.binary_join_element_wise(parts.field("sec"), frac_text, ".").to_numpy(
        zero_copy_only=False)
    usable = sec < timeutil.MAX_NS // 10**9       # a garbled stamp must not wrap int64
    if not usable.all():
        rows, sec, frac, width, raw_text = (a[usable] for a in (rows, sec, frac, width, raw_text))

    def column(name, default, dtype):
        if name in cols:
            return cols[name].copy()
        return np.full(n, default, dtype=dtype)

    ts = column("ts_ns", 0, "int64")
    quantum = column("quantum_ns", 1, "int64")
    raw_ts = column("raw_ts", "", object)
    tz_source = column("tz_source", "explicit", object)
    ts[rows] = sec * 10**9 + frac
    quantum[rows] = 10 ** (9 - width)
    raw_ts[rows] = raw_text
    tz_source[rows] = "assumed-utc"
    cols.update(ts_ns=ts, quantum_ns=quantum, raw_ts=raw_ts, tz_source=tz_source)
    if "ts_hi_ns" in cols:
        hi = cols["ts_hi_ns"].copy()
        hi[rows] = -1
        cols["ts_hi_ns"] = hi
    if "ambiguous" in cols:
        amb = cols["ambiguous"].astype(bool)
        amb[rows] = False
        cols["ambiguous"] = amb
    return cols
