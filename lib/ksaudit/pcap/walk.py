"""Compiled record walks: find every frame of a pcap or pcapng file.

Each walk fills caller-provided arrays from index ``n0`` up to ``cap`` and returns
``(n, pos, status)``: how many records are filled, where it stopped and why, so the
caller can grow the arrays, handle a pcapng metadata block in Python, or stop.
Per frame: data offset, captured and wire length, timestamp in ns, global interface
index, a direction hint (0 unknown, 1 in, 2 out: pcapng epb_flags / pack_flags) and the
frame number as Wireshark counts it (custom and journal-export blocks take a number
but are no packets, so pcapng frame numbers can have gaps).
"""

import numpy as np

from ksaudit.pcap._jit import jit, u16, u32

DONE, FULL, TRUNCATED, BAD_LENGTH, META, BAD_INTERFACE = 0, 1, 2, 3, 4, 5
SHB, IDB, PB, SPB, ISB, EPB = 0x0A0D0D0A, 1, 2, 3, 5, 6
SJE, CB, CB_NOCOPY = 9, 0x00000BAD, 0x40000BAD     # journal export, custom blocks
MAX_FRAME = 0x4000000          # 64 MiB: no real frame is larger


def new_records(cap):
    """Empty record arrays for ``cap`` frames."""
    return {
        "off": np.empty(cap, np.int64), "caplen": np.empty(cap, np.uint32),
        "length": np.empty(cap, np.uint32), "ts_ns": np.empty(cap, np.int64),
        "iface": np.empty(cap, np.int32), "dirhint": np.empty(cap, np.int8),
        "frame": np.empty(cap, np.int64),
    }


@jit
def walk_pcap(buf, pos, big, frac_ns, max_caplen, off, caplen, length, ts_ns, iface,
              dirhint, frame, fno, n0, cap, bad_frac):
    """``bad_frac`` (int64[2]): count of records whose fraction field is a second or
    more (µs >= 1,000,000, ns >= 10^9) and the frame number of the first one; their
    ts_ns reads the fields as given (seconds + fraction), past the next second."""
    end = buf.shape[0]
    n = n0
    limit = 1_000_000_000 // frac_ns
    while n < cap:
        if pos == end:
            return n, pos, DONE, fno
        if pos + 16 > end:
            return n, pos, TRUNCATED, fno
        incl = u32(buf, pos + 8, big)
        if incl > max_caplen:
            return n, pos, BAD_LENGTH, fno
        if pos + 16 + incl > end:
            return n, pos, TRUNCATED, fno
        off[n] = pos + 16
        caplen[n] = incl
        length[n] = u32(buf, pos + 12, big)
        frac = u32(buf, pos + 4, big)
        ts_ns[n] = u32(buf, pos, big) * 1_000_000_000 + frac * frac_ns
        iface[n] = 0
        dirhint[n] = 0
        fno += 1
        if frac >= limit:
            if bad_frac[0] == 0:
                bad_frac[1] = fno
            bad_frac[0] += 1
        frame[n] = fno
        n += 1
        pos += 16 + incl
    return n, pos, FULL, fno


@jit
def _ticks_to_ns(ticks, binary, exp, offset_ns):
    t = np.uint64(ticks)
    if binary:
        if exp > 30:               # below 1 ns: drop the extra bits first
            t = t >> np.uint64(exp - 30) if exp - 30 < 64 else np.uint64(0)
            exp = 30
        sh = np.uint64(exp)
        mask = (np.uint64(1) << sh) - np.uint64(1)
        ns = (t >> sh) * np.uint64(1_000_000_000) + (((t & mask) * np.uint64(1_000_000_000)) >> sh)
    elif exp <= 9:
        p = np.uint64(1)
        for _ in range(9 - exp):
            p *= np.uint64(10)
        ns = t * p
    elif exp - 9 > 19:
        ns = np.uint64(0)
    else:
        p = np.uint64(1)
        for _ in range(exp - 9):
            p *= np.uint64(10)
        ns = t // p
    return np.int64(ns) + offset_ns


@jit
def _flags_option(buf, q, stop, big):
    """Direction from an epb_flags / pack_flags option (code 2) in [q, stop)."""
    while q + 4 <= stop:
        code = u16(buf, q, big)
        ln = u16(buf, q + 2, big)
        if code == 0:
            break
        if code == 2 and ln == 4 and q + 8 <= stop:
            d = u32(buf, q + 4, big) & 3
            return 1 if d == 1 else (2 if d == 2 else 0)
        q += 4 + ((ln + 3) & ~3)
    return 0


@jit
def walk_pcapng(buf, pos, big, if_base, if_count, if_binary, if_exp, if_offset_ns, if_snaplen,
                off, caplen, length, ts_ns, iface, dirhint, frame, fno, n0, cap):
    end = buf.shape[0]
    n = n0
    while n < cap:
        if pos == end:
            return n, pos, DONE, fno
        if pos + 8 > end:
            return n, pos, TRUNCATED, fno
        btype = u32(buf, pos, big)
        if btype == SHB:
            return n, pos, META, fno
        blen = u32(buf, pos + 4, big)
        if blen < 12 or blen % 4 != 0 or blen > MAX_FRAME:
            return n, pos, BAD_LENGTH, fno
        if pos + blen > end:
            return n, pos, TRUNCATED, fno
        if u32(buf, pos + blen - 4, big) != blen:
            return n, pos, BAD_LENGTH, fno
        stop = pos + blen - 4
        if btype == EPB or btype == PB:
            if blen < 32:
                return n, pos, BAD_LENGTH, fno
            if btype == EPB:
                ifid = u32(buf, pos + 8, big)
            else:
                ifid = u16(buf, pos + 8, big)
            incl = u32(buf, pos + 20, big)
            if pos + 28 + incl > stop:
                return n, pos, BAD_LENGTH, fno
            if ifid >= if_count:
                return n, pos, BAD_INTERFACE, fno
            g = if_base + ifid
            ticks = (u32(buf, pos + 12, big) << 32) | u32(buf, pos + 16, big)
            off[n] = pos + 28
            caplen[n] = incl
            length[n] = u32(buf, pos + 24, big)
            ts_ns[n] = _ticks_to_ns(ticks, if_binary[g], if_exp[g], if_offset_ns[g])
            iface[n] = g
            dirhint[n] = _flags_option(buf, pos + 28 + ((incl + 3) & ~3), stop, big)
            fno += 1
            frame[n] = fno
            n += 1
        elif btype == SPB:
            if blen < 16:
                return n, pos, BAD_LENGTH, fno
            if if_count < 1:
                return n, pos, BAD_INTERFACE, fno
            g = if_base
            orig = u32(buf, pos + 8, big)
            incl = min(orig, blen - 16)
            if if_snaplen[g] > 0:
                incl = min(incl, if_snaplen[g])
            off[n] = pos + 12
            caplen[n] = incl
            length[n] = orig
            ts_ns[n] = 0               # a simple packet block carries no time
            iface[n] = g
            dirhint[n] = 0
            fno += 1
            frame[n] = fno
            n += 1
        elif btype == CB or btype == CB_NOCOPY or btype == SJE:
            fno += 1                   # Wireshark numbers these records as frames too
        elif btype == IDB or btype == ISB:
            return n, pos, META, fno
        pos += blen
    return n, pos, FULL, fno
