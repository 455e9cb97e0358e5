"""Open a capture file and walk its records: pcap header, pcapng sections/interfaces.

``Scanner`` owns the memory map and the walk state.  ``records(max_rows)`` returns the
next batch of frame records (see ``walk.new_records``) or ``None`` at the end; the
compiled walks do the per-frame work, this module parses the few metadata blocks
(section headers, interface descriptions and statistics) in Python.
"""

import mmap
import os
import struct
from dataclasses import dataclass

import numpy as np

from ksaudit.errors import KsauditError
from ksaudit.pcap import walk
from ksaudit.pcap.walk import BAD_INTERFACE, BAD_LENGTH, DONE, FULL, META, TRUNCATED
from ksaudit.safeio import open_regular

PCAP_MAGIC = {  # first 4 bytes -> (big endian, ns per fraction unit)
    b"\xd4\xc3\xb2\xa1": (False, 1000), b"\xa1\xb2\xc3\xd4": (True, 1000),
    b"\x4d\x3c\xb2\xa1": (False, 1), b"\xa1\xb2\x3c\x4d": (True, 1),
}
MODIFIED_PCAP_MAGIC = (b"\x34\xcd\xb2\xa1", b"\xa1\xb2\xcd\x34")
SHB_TYPE = b"\x0a\x0d\x0d\x0a"
STANDARD_MAX_CAPLEN = 262144
# per-interface arrays the compiled code reads (Interface fields it needs, by global index)
_IFACE_COLUMNS = {"linktype": np.int32, "binary": np.uint8, "exp": np.int64,
                  "offset_ns": np.int64, "snaplen": np.int64}


@dataclass(frozen=True)
class Interface:
    """One capture interface (a pcapng IDB, or the single interface of a pcap file)."""

    id: int                 # global index, counted across pcapng sections
    name: str | None        # if_name, None when the file names none
    linktype: int
    snaplen: int
    tsresol: str            # "10^-6", "10^-9", "2^-20", ...
    tsoffset_s: int         # if_tsoffset seconds (already added to ts_ns)
    isb_ifdrop: int | None = None
    isb_osdrop: int | None = None


class Scanner:
    """Walks one capture file; see the module docstring."""

    def __init__(self, path):
        self.path = os.fspath(path)
        try:
            with open_regular(self.path) as fh:  # a FIFO: one line, never a hang
                size = os.fstat(fh.fileno()).st_size
                if size == 0:
                    raise KsauditError(f"{self.path}: empty file, not a capture")
                self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise KsauditError(f"{self.path}: cannot read: "
                               f"{getattr(exc, 'strerror', None) or exc}") from None
        if hasattr(self._map, "madvise"):      # read once, front to back
            self._map.madvise(mmap.MADV_SEQUENTIAL)
        self.buf = np.frombuffer(self._map, np.uint8)
        self.size = size
        self._released = 0            # bytes before this are dropped from memory (release)
        self.ifaces = []              # list of dicts, turned into Interface by interfaces()
        self._cols = {k: np.zeros(16, t) for k, t in _IFACE_COLUMNS.items()}
        self.warnings = []
        self.problem = None           # (byte offset, message) when reading stopped early
        self.done = False
        self.frames = 0
        self.fno = 0                  # last frame number given (Wireshark numbering)
        self.bad_frac = np.zeros(2, np.int64)   # pcap fraction fields >= 1 s: walk.walk_pcap
        head = bytes(self.buf[:4])
        if head in PCAP_MAGIC:
            self.format = "pcap"
            self._open_pcap(*PCAP_MAGIC[head])
        elif head == SHB_TYPE:
            self.format = "pcapng"
            self.pos, self.big, self.if_base = 0, False, 0
            if not self._meta():
                raise KsauditError(f"{self.path}: not a readable pcapng file: {self.problem[1]}")
        elif head in MODIFIED_PCAP_MAGIC:
            raise KsauditError(f"{self.path}: modified (Kuznetzov) pcap is not supported; "
                               "convert it with: editcap -F pcap IN OUT")
        elif head[:2] == b"\x1f\x8b":
            raise KsauditError(f"{self.path}: gzip-compressed; decompress it first "
                               "(gunzip -k FILE), the packet table is read from a plain capture")
        else:
            raise KsauditError(f"{self.path}: not a pcap or pcapng capture "
                               f"(starts with bytes {head.hex(' ')})")

    # -- pcap -------------------------------------------------------------------------
    def _open_pcap(self, big, frac_ns):
        if self.size < 24:
            raise KsauditError(f"{self.path}: pcap file header cut short "
                               f"({self.size} of 24 bytes)")
        _, _, _, _, snaplen, linktype = struct.unpack((">" if big else "<") + "HHiIII",
                                                      bytes(self.buf[4:24]))
        self.big, self.frac_ns, self.pos = big, frac_ns, 24
        self.max_caplen = min(max(snaplen, STANDARD_MAX_CAPLEN), walk.MAX_FRAME)
        self._add_interface(dict(id=0, name=None, linktype=linktype & 0xFFFF, snaplen=snaplen,
                                 tsresol="10^-9" if frac_ns == 1 else "10^-6", tsoffset_s=0,
                                 binary=0, exp=9 if frac_ns == 1 else 6, offset_ns=0))

    # -- pcapng metadata blocks ---------------------------------------------------------
    def _stop(self, pos, what):
        if self.problem is None:
            self.problem = (pos, what)
        self.done = True
        return False

    def _block(self, pos, big, min_len):
        """(type, length) of a complete, well-formed block at pos, else None (stops)."""
        o = ">" if big else "<"
        if pos + 8 > self.size:
            return self._stop(pos, "block header cut short") or None
        btype, blen = struct.unpack(o + "II", bytes(self.buf[pos:pos + 8]))
        if blen < min_len or blen % 4:
            return self._stop(pos, f"bad block length {blen}") or None
        if pos + blen > self.size:
            return self._stop(pos, f"block of {blen} bytes runs past the end of the file") or None
        if struct.unpack(o + "I", bytes(self.buf[pos + blen - 4:pos + blen]))[0] != blen:
            return self._stop(pos, f"block length {blen} does not match its trailer") or None
        return btype, blen

    def _options(self, start, stop):
        o = ">" if self.big else "<"
        opts = {}
        q = start
        while q + 4 <= stop:
            code, ln = struct.unpack(o + "HH", bytes(self.buf[q:q + 4]))
            if code == 0:
                break
            opts.setdefault(code, bytes(self.buf[q + 4:min(q + 4 + ln, stop)]))
            q += 4 + ((ln + 3) & ~3)
        return opts

    def _meta(self):
        """Parse the SHB / IDB / ISB at self.pos; False when reading must stop."""
        pos = self.pos
        head = bytes(self.buf[pos:pos + 12])
        if head[:4] == SHB_TYPE:
            bom = head[8:12]
            if bom == b"\x4d\x3c\x2b\x1a":
                big = False
            elif bom == b"\x1a\x2b\x3c\x4d":
                big = True
            else:
                what = ("section header cut short" if len(bom) < 4
                        else f"bad byte-order magic {bom.hex()}")
                return self._stop(pos, what)
            blk = self._block(pos, big, 28)
            if not blk:
                return False
            self.big, self.if_base = big, len(self.ifaces)
            major = struct.unpack((">" if big else "<") + "H",
                                  bytes(self.buf[pos + 12:pos + 14]))[0]
            if major != 1:
                return self._stop(pos, f"unsupported pcapng version {major}")
            self.pos = pos + blk[1]
            return True
        blk = self._block(pos, self.big, 12)
        if not blk:
            return False
        btype, blen = blk
        o = ">" if self.big else "<"
        if btype == walk.IDB:
            if blen < 20:
                return self._stop(pos, f"bad interface block length {blen}")
            linktype, _, snaplen = struct.unpack(o + "HHI", bytes(self.buf[pos + 8:pos + 16]))
            opts = self._options(pos + 16, pos + blen - 4)
            self._add_interface(self._interface(linktype, snaplen, opts, o))
        elif btype == walk.ISB:
            if blen < 24:
                return self._stop(pos, f"bad statistics block length {blen}")
            ifid = struct.unpack(o + "I", bytes(self.buf[pos + 8:pos + 12]))[0]
            g = self.if_base + ifid
            if g >= len(self.ifaces):
                self.warnings.append(f"{self.path}: statistics block at byte {pos} names "
                                     f"undeclared interface {ifid}; ignored")
            else:
                opts = self._options(pos + 20, pos + blen - 4)
                for code, key in ((5, "isb_ifdrop"), (7, "isb_osdrop")):
                    if len(opts.get(code, b"")) == 8:
                        self.ifaces[g][key] = struct.unpack(o + "Q", opts[code])[0]
        self.pos = pos + blen
        return True

    def fraction_warning(self):
        """The warning line for pcap records whose fraction field is a second or more
        (tshark prints such stamps unnormalised), or None."""
        if not self.bad_frac[0]:
            return None
        unit, limit = ("µs", "1,000,000") if self.frac_ns == 1000 else ("ns", "1,000,000,000")
        return (f"{self.path}: {int(self.bad_frac[0])} record(s) have a {unit} field of "
                f"{limit} or more, which no valid time has (first: frame "
                f"{int(self.bad_frac[1])}); their ts_ns adds the field as given, so it lies "
                f"past the record's second")

    def _interface(self, linktype, snaplen, opts, o):
        name = opts.get(2)
        if name is not None:
            name = name.split(b"\0", 1)[0].decode("utf-8", "replace")
        binary, exp = 0, 6
        if len(opts.get(9, b"")) >= 1:
            r = opts[9][0]
            binary, exp = r >> 7, r & 0x7F
        tsoffset = struct.unpack(o + "q", opts[14])[0] if len(opts.get(14, b"")) == 8 else 0
        return dict(id=len(self.ifaces), name=name, linktype=linktype, snaplen=snaplen,
                    tsresol=f"{2 if binary else 10}^-{exp}", tsoffset_s=tsoffset,
                    binary=binary, exp=exp,
                    offset_ns=max(min(tsoffset * 1_000_000_000, 2**63 - 1), -2**63))

    def _add_interface(self, d):
        """Append one interface, to ``ifaces`` and to the arrays the compiled walk and
        decoder read (grown by doubling: a file of many interface blocks reads in
        linear time)."""
        k = len(self.ifaces)
        if k == len(self._cols["exp"]):
            self._cols = {c: np.resize(a, 2 * k) for c, a in self._cols.items()}
        for c, a in self._cols.items():
            a[k] = d[c]
        self.ifaces.append(d)

    # -- records ------------------------------------------------------------------------
    def interfaces(self):
        keys = Interface.__dataclass_fields__
        return tuple(Interface(**{k: v for k, v in d.items() if k in keys}) for d in self.ifaces)

    def linktypes(self):
        """int32 array: link type per global interface index."""
        return self._cols["linktype"][:max(len(self.ifaces), 1)]

    def release(self):
        """Drop the file's pages up to the records already returned from this process's
        memory (the page cache keeps them): read in batches, a capture holds about one
        batch of the file resident, not all of it."""
        upto = self.pos - self.pos % mmap.PAGESIZE
        if upto > self._released and hasattr(self._map, "madvise"):
            self._map.madvise(mmap.MADV_DONTNEED, self._released, upto - self._released)
            self._released = upto

    def fill(self, rec, n0, stop):
        """Walk frame records into rows ``n0 .. stop-1`` of `rec` (``walk.new_records``
        arrays); returns the row reached, short of `stop` only at the end of reading."""
        n = n0
        while not self.done:
            if self.format == "pcap":
                n, self.pos, status, self.fno = walk.walk_pcap(
                    self.buf, self.pos, self.big, self.frac_ns, self.max_caplen, rec["off"],
                    rec["caplen"], rec["length"], rec["ts_ns"], rec["iface"], rec["dirhint"],
                    rec["frame"], self.fno, n, stop, self.bad_frac)
            else:
                c = self._cols
                n, self.pos, status, self.fno = walk.walk_pcapng(
                    self.buf, self.pos, self.big, self.if_base,
                    len(self.ifaces) - self.if_base, c["binary"], c["exp"], c["offset_ns"],
                    c["snaplen"], rec["off"], rec["caplen"], rec["length"], rec["ts_ns"], rec["iface"],
                    rec["dirhint"], rec["frame"], self.fno, n, stop)
            if status == META:
                if self._meta():
                    continue
                break
            if status == FULL:
                break
            if status == DONE:
                self.done = True
            elif status == TRUNCATED:
                self._stop(self.pos, "frame cut short by the end of the file")
            elif status == BAD_LENGTH:
                self._stop(self.pos, "bad record length")
            elif status == BAD_INTERFACE:
                self._stop(self.pos, "frame names an interface its section does not declare")
            break
        self.frames += n - n0
        return n

    def records(self, max_rows):
        """Next batch of at most max_rows frame records (dict of arrays), None at the end."""
        if self.done:
            return None
        cap = int(min(max_rows, (self.size - self.pos) // 40 + 16))
        rec = walk.new_records(cap)
        n = self.fill(rec, 0, cap)
        while n == cap < max_rows and not self.done:
            cap = int(min(max_rows, cap * 2))
            rec = {k: np.resize(v, cap) for k, v in rec.items()}
            n = self.fill(rec, n, cap)
        if n == 0:
            return None
        if n < cap:   # copy when much smaller, so the oversized arrays are freed
            rec = {k: v[:n].copy() if n < cap * 0.9 else v[:n] for k, v in rec.items()}
        return rec
