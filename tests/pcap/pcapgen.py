"""Hand-built capture files for the pcap tests (struct, byte for byte per the specs).

Frames are (ts_ns, data) or (ts_ns, data, wire_length).  pcapng helpers return blocks;
join them with b"".join and write the result.
"""

import struct


def pcap(frames, linktype=1, nano=False, big=False, snaplen=262144):
    o = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(o + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for fr in frames:
        ts, data = fr[0], fr[1]
        wire = fr[2] if len(fr) > 2 else len(data)
        frac = ts % 1_000_000_000 if nano else (ts % 1_000_000_000) // 1000
        out.append(struct.pack(o + "IIII", ts // 1_000_000_000, frac, len(data), wire) + data)
    return b"".join(out)


def _pad(b):
    return b + b"\0" * (-len(b) % 4)


def _opts(o, options):
    if not options:
        return b""
    body = b"".join(struct.pack(o + "HH", code, len(val)) + _pad(val) for code, val in options)
    return body + struct.pack(o + "HH", 0, 0)


def block(btype, body, big=False):
    o = ">" if big else "<"
    body = _pad(body)
    n = len(body) + 12
    return struct.pack(o + "II", btype, n) + body + struct.pack(o + "I", n)


def shb(big=False, options=()):
    o = ">" if big else "<"
    return block(0x0A0D0D0A, struct.pack(o + "IHHq", 0x1A2B3C4D, 1, 0, -1) + _opts(o, options), big)


def idb(linktype=1, snaplen=262144, name=None, tsresol=None, tsoffset=None, big=False):
    o = ">" if big else "<"
    options = []
    if name is not None:
        options.append((2, name.encode()))
    if tsresol is not None:
        options.append((9, bytes([tsresol])))
    if tsoffset is not None:
        options.append((14, struct.pack(o + "q", tsoffset)))
    return block(1, struct.pack(o + "HHI", linktype, 0, snaplen) + _opts(o, options), big)


def epb(ifid, ticks, data, wire=None, flags=None, big=False):
    o = ">" if big else "<"
    options = [(2, struct.pack(o + "I", flags))] if flags is not None else []
    head = struct.pack(o + "IIIII", ifid, ticks >> 32, ticks & 0xFFFFFFFF, len(data),
                       len(data) if wire is None else wire)
    return block(6, head + _pad(data) + _opts(o, options), big)


def pb(ifid, ticks, data, flags=None, big=False):
    """Obsolete Packet Block (type 2)."""
    o = ">" if big else "<"
    options = [(2, struct.pack(o + "I", flags))] if flags is not None else []
    head = struct.pack(o + "HHIIII", ifid, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data))
    return block(2, head + _pad(data) + _opts(o, options), big)


def spb(data, wire=None, big=False):
    o = ">" if big else "<"
    return block(3, struct.pack(o + "I", len(data) if wire is None else wire) + _pad(data), big)


def isb(ifid, ifdrop=None, osdrop=None, big=False):
    o = ">" if big else "<"
    options = []
    if ifdrop is not None:
        options.append((5, struct.pack(o + "Q", ifdrop)))
    if osdrop is not None:
        options.append((7, struct.pack(o + "Q", osdrop)))
    return block(5, struct.pack(o + "III", ifid, 0, 0) + _opts(o, options), big)


def sll(data, proto=0x0800, pkttype=0):
    return struct.pack(">HHH8sH", pkttype, 1, 6, b"\x02\0\0\0\0\x01", proto) + data


def sll2(data, ifindex, proto=0x0800, pkttype=0):
    return struct.pack(">HHIHBB8s", proto, 0, ifindex, 1, pkttype, 6, b"\x02\0\0\0\0\x01") + data


def null(data, family=2, big=False):
    return struct.pack(">I" if big else "<I", family) + data
