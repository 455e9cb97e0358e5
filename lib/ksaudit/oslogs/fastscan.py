"""Compiled (numba) byte scanners for the two formats that must be fast.

``scan_journald_json`` walks each line as one flat JSON object and records where
the values of a few keys lie (no dicts, no per-field Python objects);
``scan_rfc3164`` cuts the common BSD syslog shape.  Lines they cannot handle are
flagged and left to the formats' Python paths, which also name the problem.
``gather`` copies byte ranges into an Arrow string array.  Compiled code is
cached on disk (first use in a fresh checkout compiles for a few seconds).
"""

import numba
import numpy as np
import pyarrow as pa

JOURNAL_KEYS = ("__REALTIME_TIMESTAMP", "_SOURCE_REALTIME_TIMESTAMP", "__MONOTONIC_TIMESTAMP",
                "_BOOT_ID", "MESSAGE", "SYSLOG_IDENTIFIER", "_COMM")
# value types
V_NONE, V_STRING, V_ARRAY, V_OTHER = 0, 1, 2, 3
# line status
OK, BLANK, BAD = 0, 1, 2

_KEY_BYTES = np.frombuffer("".join(JOURNAL_KEYS).encode(), dtype=np.uint8).copy()
_KEY_OFFSETS = np.cumsum([0] + [len(k) for k in JOURNAL_KEYS]).astype(np.int64)


@numba.njit(cache=True, nogil=True)
def line_bounds(data):
    """(starts, ends) of every line (ends exclude the newline)."""
    n = 0
    for i in range(len(data)):
        if data[i] == 10:
            n += 1
    if len(data) and data[len(data) - 1] != 10:
        n += 1
    starts = np.empty(n, np.int64)
    ends = np.empty(n, np.int64)
    k, s = 0, 0
    for i in range(len(data)):
        if data[i] == 10:
            starts[k], ends[k] = s, i
            k += 1
            s = i + 1
    if k < n:
        starts[k], ends[k] = s, len(data)
    return starts, ends


@numba.njit(cache=True, nogil=True, inline="always")
def _ws(c):
    return c == 32 or c == 9 or c == 13 or c == 10


@numba.njit(cache=True, nogil=True)
def _skip_string(data, i, end):
    """data[i] is just after an opening quote: return (index of closing quote, escaped)."""
    esc = False
    while i < end:
        c = data[i]
        if c == 92:
            esc = True
            i += 2
            continue
        if c == 34:
            return i, esc
        i += 1
    return -1, esc


@numba.njit(cache=True, nogil=True)
def _skip_nested(data, i, end):
    """data[i] is '[' or '{': return index just past its matching close, or -1."""
    depth = 0
    while i < end:
        c = data[i]
        if c == 34:
            j, _ = _skip_string(data, i + 1, end)
            if j < 0:
                return -1
            i = j + 1
            continue
        if c == 91 or c == 123:
            depth += 1
        elif c == 93 or c == 125:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


@numba.njit(cache=True, nogil=True)
def _key_slot(data, ks, ke, key_bytes, key_offsets):
    for k in range(len(key_offsets) - 1):
        a, b = key_offsets[k], key_offsets[k + 1]
        if b - a != ke - ks:
            continue
        same = True
        for j in range(b - a):
            if data[ks + j] != key_bytes[a + j]:
                same = False
                break
        if same:
            return k
    return -1


@numba.njit(cache=True, nogil=True)
def _scan_json(data, starts, ends, key_bytes, key_offsets):
    n, nk = len(starts), len(key_offsets) - 1
    status = np.zeros(n, np.int8)
    vs = np.full((n, nk), -1, np.int64)
    ve = np.full((n, nk), -1, np.int64)
    vtype = np.zeros((n, nk), np.int8)
    esc = np.zeros((n, nk), np.bool_)
    for r in range(n):
        i, end = starts[r], ends[r]
        while i < end and _ws(data[i]):
            i += 1
        if i == end:
            status[r] = BLANK
            continue
        if data[i] != 123:
            status[r] = BAD
            continue
        i += 1
        bad = True
        while i < end:
            while i < end and _ws(data[i]):
                i += 1
            if i < end and data[i] == 125:
                bad = False
                i += 1
                break
            if i >= end or data[i] != 34:
                break
            ke, _ = _skip_string(data, i + 1, end)
            if ke < 0:
                break
            slot = _key_slot(data, i + 1, ke, key_bytes, key_offsets)
            i = ke + 1
            while i < end and _ws(data[i]):
                i += 1
            if i >= end or data[i] != 58:
                break
            i += 1
            while i < end and _ws(data[i]):
                i += 1
            if i >= end:
                break
            c = data[i]
            if c == 34:
                j, e = _skip_string(data, i + 1, end)
                if j < 0:
                    break
                a, b, t = i + 1, j, V_STRING
                i = j + 1
            elif c == 91 or c == 123:
                j = _skip_nested(data, i, end)
                if j < 0:
                    break
                a, b, t, e = i, j, V_ARRAY if c == 91 else V_OTHER, False
                i = j
            else:
                a = i
                while i < end and data[i] != 44 and data[i] != 125 and not _ws(data[i]):
                    i += 1
                b, t, e = i, V_OTHER, False
            if slot >= 0:
                vs[r, slot], ve[r, slot], vtype[r, slot], esc[r, slot] = a, b, t, e
            while i < end and _ws(data[i]):
                i += 1
            if i < end and data[i] == 44:
                i += 1
                continue
            if i < end and data[i] == 125:
                bad = False
                i += 1
                break
            break
        if not bad:
            while i < end and _ws(data[i]):
                i += 1
            bad = i != end
        status[r] = BAD if bad else OK
    return status, vs, ve, vtype, esc


@numba.njit(cache=True, nogil=True)
def parse_uint(data, starts, ends):
    """Decimal digits in each [start, end) -> int64; -1 when empty or not all digits."""
    out = np.full(len(starts), -1, np.int64)
    for r in range(len(starts)):
        a, b = starts[r], ends[r]
        if a < 0 or b <= a or b - a > 18:
            continue
        v = 0
        ok = True
        for i in range(a, b):
            c = data[i]
            if c < 48 or c > 57:
                ok = False
                break
            v = v * 10 + (c - 48)
        if ok:
            out[r] = v
    return out


@numba.njit(cache=True, nogil=True)
def _gather(data, starts, ends):
    n = len(starts)
    offsets = np.zeros(n + 1, np.int64)
    for r in range(n):
        length = ends[r] - starts[r] if starts[r] >= 0 and ends[r] > starts[r] else 0
        offsets[r + 1] = offsets[r] + length
    out = np.empty(offsets[n], np.uint8)
    for r in range(n):
        o, e = offsets[r], offsets[r + 1]
        if e > o:
            out[o:e] = data[starts[r]:starts[r] + (e - o)]
    return offsets, out


def gather(data, starts, ends, arrow=False, repeated=False):
    """Byte ranges [starts, ends) of ``data`` (negative start = empty) -> numpy object str array.

    With ``arrow=True`` returns (object array, pyarrow string array).  With
    ``repeated=True`` (few distinct values, e.g. boot ids) equal strings share
    one Python object.
    """
    offsets, out = _gather(data, starts, ends)
    big = offsets[-1] >= 2**31 - 1
    arr = pa.Array.from_buffers(pa.large_binary() if big else pa.binary(), len(starts),
                                [None, pa.py_buffer(offsets if big else offsets.astype(np.int32)),
                                 pa.py_buffer(out)])
    try:
        text = arr.cast(pa.large_string() if big else pa.string())
        if repeated:
            enc = text.dictionary_encode()
            values = enc.dictionary.to_numpy(zero_copy_only=False).astype(object)[
                enc.indices.to_numpy(zero_copy_only=False)]
        else:
            values = text.to_numpy(zero_copy_only=False).astype(object)
    except pa.ArrowInvalid:  # invalid UTF-8 somewhere: decode each with U+FFFD
        values = np.array([b.decode("utf-8", "replace") for b in arr.to_pylist()], dtype=object)
        text = pa.array(values, pa.large_string() if big else pa.string())
    return (values, text) if arrow else values


def scan_journald_json(data):
    """journald JSON bytes -> (starts, ends, status, vs, ve, vtype, esc) per line and key."""
    starts, ends = line_bounds(data)
    status, vs, ve, vtype, esc = _scan_json(data, starts, ends, _KEY_BYTES, _KEY_OFFSETS)
    return starts, ends, status, vs, ve, vtype, esc


# --- RFC 3164 ----------------------------------------------------------------------------
_MONTH_CODES = np.array([(ord(m[0].upper()) << 16) | (ord(m[1]) << 8) | ord(m[2]) for m in
                         "jan feb mar apr may jun jul aug sep oct nov dec".split()], np.int64)


_REPEATED = np.frombuffer(b"last message repeated ", dtype=np.uint8).copy()
_REPEATED_BOX = np.frombuffer(b"--- last message repeated ", dtype=np.uint8).copy()


@numba.njit(cache=True, nogil=True, inline="always")
def _digit(c):
    return 48 <= c <= 57


@numba.njit(cache=True, nogil=True)
def _starts_with(data, i, end, word):
    if end - i < len(word):
        return False
    for j in range(len(word)):
        if data[i + j] != word[j]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _scan_3164(data, starts, ends, month_codes, repeated, repeated_box):
    n = len(starts)
    ok = np.zeros(n, np.bool_)
    f = np.zeros((n, 7), np.int64)          # month day hh mi ss frac_ns quantum
    pos = np.full((n, 6), -1, np.int64)     # raw_s raw_e tag_s tag_e msg_s msg_e
    for r in range(n):
        i, end = starts[r], ends[r]
        if end > i and data[end - 1] == 13:
            end -= 1
        if i < end and data[i] == 60:                  # <PRI>
            j = i + 1
            while j < end and j < i + 5 and _digit(data[j]):
                j += 1
            if j == i + 1 or j >= end or data[j] != 62:
                continue
            i = j + 1
        if end - i < 16:
            continue
        raw_s = i
        code = (np.int64(data[i]) << 16) | (np.int64(data[i + 1]) << 8) | np.int64(data[i + 2])
        month = 0
        for k in range(12):
            if month_codes[k] == code:
                month = k + 1
        if month == 0 or data[i + 3] != 32:
            continue
        i += 4
        if data[i] == 32:
            i += 1
        if not _digit(data[i]):
            continue
        day = data[i] - 48
        i += 1
        if _digit(data[i]):
            day = day * 10 + data[i] - 48
            i += 1
        if i + 9 > end or data[i] != 32 or data[i + 3] != 58 or data[i + 6] != 58:
            continue
        good = True
        for j in (1, 2, 4, 5, 7, 8):
            if not _digit(data[i + j]):
                good = False
        if not good:
            continue
        hh = (data[i + 1] - 48) * 10 + data[i + 2] - 48
        mi = (data[i + 4] - 48) * 10 + data[i + 5] - 48
        ss = (data[i + 7] - 48) * 10 + data[i + 8] - 48
        i += 9
        frac, quantum = 0, 1_000_000_000
        if i < end and data[i] == 46:
            j = i + 1
            while j < end and j < i + 10 and _digit(data[j]):
                frac = frac * 10 + data[j] - 48
                quantum //= 10
                j += 1
            if j == i + 1:
                continue
            frac *= quantum
            i = j
        raw_e = i
        if i >= end or data[i] != 32:
            continue
        while i < end and data[i] == 32:
            i += 1
        if _starts_with(data, i, end, repeated) or _starts_with(data, i, end, repeated_box):
            # syslogd's "last message repeated N times" (or macOS's "--- ... ---"), no host
            ok[r] = True
            f[r, 0], f[r, 1], f[r, 2], f[r, 3], f[r, 4] = month, day, hh, mi, ss
            f[r, 5], f[r, 6] = frac, quantum
            pos[r, 0], pos[r, 1], pos[r, 4], pos[r, 5] = raw_s, raw_e, i, end
            continue
        while i < end and data[i] != 32:               # host
            i += 1
        if i < end:
            i += 1
        tag_s, tag_e, msg_s = -1, -1, i
        j = i
        while j < end and data[j] != 32 and data[j] != 58 and data[j] != 91:
            j += 1
        if j > i and j < end:
            k = j
            if data[k] == 91:                          # [pid]
                k += 1
                while k < end and _digit(data[k]):
                    k += 1
                if k < end and data[k] == 93:
                    k += 1
                else:
                    k = -1
            if k > 0 and k < end and data[k] == 58:
                tag_s, tag_e = i, j
                msg_s = k + 1
                if msg_s < end and data[msg_s] == 32:
                    msg_s += 1
        ok[r] = True
        f[r, 0], f[r, 1], f[r, 2], f[r, 3], f[r, 4] = month, day, hh, mi, ss
        f[r, 5], f[r, 6] = frac, quantum
        pos[r, 0], pos[r, 1], pos[r, 2], pos[r, 3] = raw_s, raw_e, tag_s, tag_e
        pos[r, 4], pos[r, 5] = msg_s, end
    return ok, f, pos


def scan_rfc3164(data):
    """RFC 3164 bytes -> (starts, ends, ok, fields[n,7], positions[n,6]) per line."""
    starts, ends = line_bounds(data)
    ok, fields, pos = _scan_3164(data, starts, ends, _MONTH_CODES, _REPEATED, _REPEATED_BOX)
    return starts, ends, ok, fields, pos
