"""Edit copies of classic pcap files for the fail-closed tests: drop frames by number,
add one crafted UDP/IPv4 frame.  Plain struct over the file (µs or ns pcap, either
byte order); the link-layer header of the added frame is copied from a template frame
of the same file, so it lands on the same interface and direction."""

import struct

_MAGIC = {b"\xd4\xc3\xb2\xa1": ("<", 1000), b"\xa1\xb2\xc3\xd4": (">", 1000),
          b"\x4d\x3c\xb2\xa1": ("<", 1), b"\xa1\xb2\x3c\x4d": (">", 1)}
_LINK_HEADER = {1: 14, 276: 20}          # Ethernet, LINUX_SLL2


def read(path):
    """(header bytes, endian, ns per tick, link type, [(ts_ns, data)])."""
    with open(path, "rb") as fh:
        blob = fh.read()
    endian, scale = _MAGIC[blob[:4]]
    linktype = struct.unpack(endian + "I", blob[20:24])[0]
    recs, pos = [], 24
    while pos + 16 <= len(blob):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", blob[pos:pos + 16])
        recs.append((sec * 10**9 + frac * scale, blob[pos + 16:pos + 16 + incl]))
        pos += 16 + incl
    return blob[:24], endian, scale, linktype, recs


def write(path, header, endian, scale, recs):
    with open(path, "wb") as fh:
        fh.write(header)
        for ts_ns, data in sorted(recs, key=lambda r: r[0]):
            sec, rest = divmod(ts_ns, 10**9)
            fh.write(struct.pack(endian + "IIII", sec, rest // scale, len(data), len(data)))
            fh.write(data)


def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp4(src, dst, sport, dport, payload):
    """An IPv4/UDP packet (checksummed IP header, UDP checksum 0)."""
    s, d = (bytes(int(x) for x in a.split(".")) for a in (src, dst))
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x1234, 0x4000, 64, 17, 0, s, d)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return ip + udp


def edit(src_path, dst_path, drop_frames=(), add=(), template_frame=None):
    """Copy ``src_path`` to ``dst_path`` without the 1-based ``drop_frames``, plus the
    ``add`` list of (ts_ns, ip_packet) behind the link header of ``template_frame``."""
    header, endian, scale, linktype, recs = read(src_path)
    drop = set(drop_frames)
    kept = [r for i, r in enumerate(recs, 1) if i not in drop]
    if add:
        link = recs[template_frame - 1][1][:_LINK_HEADER[linktype]]
        if linktype == 276:      # SLL2: protocol 0x0800 and a zero "reserved" field kept
            link = link[:0] + struct.pack("!H", 0x0800) + link[2:]
        kept += [(ts, link + pkt) for ts, pkt in add]
    write(dst_path, header, endian, scale, kept)
