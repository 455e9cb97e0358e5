"""Turn frame records into the packet table (schema.PACKET_COLUMNS).

``AddressTable`` keeps the address hash table across chunks, so address codes stay
stable while a capture is read in pieces, and formats each unique address to text
once.  ``decode_into`` runs the compiled decoder over a range of records (into
``new_columns`` arrays), ``assemble`` makes the DataFrame; ``build_table`` does both
for one batch.
"""

import socket

import numpy as np
import pandas as pd

from ksaudit.pcap import decode as dec
from ksaudit.pcap._jit import jit
from ksaudit.schema import PACKET_COLUMNS

DIRECTIONS = ["", "in", "out"]
RECORD_COLUMNS = ("frame", "ts_ns", "iface", "length", "caplen")   # from the record walk


@jit
def _rehash(uniq_hi, uniq_lo, uniq_kind, upto, tab_hi, tab_lo, tab_kind, tab_code,
            new_hi, new_lo, new_kind, count):
    for c in range(1, upto):
        dec.intern(uniq_hi[c], uniq_lo[c], uniq_kind[c], tab_hi, tab_lo, tab_kind, tab_code,
                   new_hi, new_lo, new_kind, count)


class AddressTable:
    """Unique IPv4/IPv6 addresses seen so far; code 0 is "" (no address)."""

    def __init__(self, slots=1 << 12):
        self._alloc(slots)
        self.text = [""]

    def _alloc(self, slots):
        self.tab = (np.zeros(slots, np.uint64), np.zeros(slots, np.uint64),
                    np.zeros(slots, np.uint8), np.zeros(slots, np.int32))
        half = slots // 2 + 2
        self.uniq = (np.zeros(half, np.uint64), np.zeros(half, np.uint64),
                     np.zeros(half, np.uint8))
        self.count = np.ones(1, np.int64)

    def grow(self):
        """Double the table, keeping every code."""
        old_uniq, upto = self.uniq, int(self.count[0])
        self._alloc(self.tab[0].shape[0] * 2)
        _rehash(*old_uniq, upto, *self.tab, *self.uniq, self.count)

    def categories(self):
        """Text of every address code so far (index = code)."""
        hi, lo, kind = self.uniq
        for c in range(len(self.text), int(self.count[0])):
            if kind[c] == 4:
                self.text.append(socket.inet_ntop(socket.AF_INET, int(lo[c]).to_bytes(4, "big")))
            else:
                raw = int(hi[c]).to_bytes(8, "big") + int(lo[c]).to_bytes(8, "big")
                self.text.append(socket.inet_ntop(socket.AF_INET6, raw))
        return self.text


def _categorical(codes, categories):
    if not isinstance(categories, pd.Index):
        categories = pd.Index(categories, dtype="str")
    return pd.Categorical.from_codes(codes, categories=categories, validate=False)


def _iface_column(ifaces, iface, ifindex, ifindex_names):
    """Interface names: pcapng if_name / "#<id>", SLL2 frames by their ifindex."""
    names = [d["name"] if d["name"] else f"#{d['id']}" for d in ifaces] or ["#0"]
    codes = iface.astype(np.int32)
    sll2 = ifindex >= 0
    if sll2.any():
        ifx = ifindex[sll2]
        if ifx.max() < 1 << 20:          # the usual case: a counting pass, no sort
            uniq = np.flatnonzero(np.bincount(ifx))
            lut = np.zeros(int(uniq[-1]) + 1, np.int32)
            lut[uniq] = np.arange(len(uniq), dtype=np.int32)
            inv = lut[ifx]
        else:
            uniq, inv = np.unique(ifx, return_inverse=True)
        codes[sll2] = len(names) + inv.astype(np.int32)
        names += [ifindex_names.get(int(x), f"#{int(x)}") for x in uniq]
        used = np.bincount(codes, minlength=len(names)) > 0     # e.g. pcapng "any" itself
        keep = np.flatnonzero(used)
        remap = np.full(len(names), -1, np.int32)
        remap[keep] = np.arange(len(keep), dtype=np.int32)
        codes, names = remap[codes], [names[k] for k in keep]
    first = {}                           # name -> its first code (names may repeat)
    remap = np.array([first.setdefault(x, len(first)) for x in names], np.int32)
    if len(first) != len(names):
        codes = remap[codes]
    uniq_names = list(first)
    return _categorical(codes, uniq_names)


_DECODED = ("ip_version", "src", "dst", "proto", "sport", "dport", "tcp_flags", "icmp_type",
            "icmp_code", "ethertype", "vlan", "arp", "fragment", "probe_seq", "probe_send_ns",
            "ppp_proto", "payload_len", "payload_head")


def new_columns(cap):
    """Empty decoder output arrays for ``cap`` frames (addresses as int32 codes,
    ``direction`` codes, SLL2 ``ifindex``)."""
    out = {c: np.empty(cap, PACKET_COLUMNS[c] if PACKET_COLUMNS[c] != "category" else np.int32)
           for c in _DECODED}
    out["direction"] = np.empty(cap, np.int8)
    out["ifindex"] = np.empty(cap, np.int64)
    return out


def decode_into(buf, rec, out, i0, n, linktypes, addresses):
    """Decode records ``i0 .. n-1`` of `rec` into rows ``i0 .. n-1`` of `out`
    (`new_columns`), growing `addresses` as needed (its codes stay stable)."""
    i = i0
    while i < n:
        i = dec.decode(buf, rec["off"], rec["caplen"], rec["iface"],
                       rec["dirhint"], linktypes, i, n, out["direction"], out["ip_version"],
                       out["src"], out["dst"], out["proto"], out["sport"], out["dport"],
                       out["tcp_flags"], out["icmp_type"], out["icmp_code"], out["ethertype"],
                       out["vlan"], out["arp"], out["fragment"], out["probe_seq"],
                       out["probe_send_ns"], out["ppp_proto"], out["payload_len"],
                       out["payload_head"], out["ifindex"], *addresses.tab, *addresses.uniq,
                       addresses.count, dec.PROBE_MAGIC)
        if i < n:
            addresses.grow()


def decode_columns(buf, rec, linktypes, addresses):
    """The decoder's columns for one batch of frame records: plain arrays, addresses as
    codes of ``addresses`` (stable across batches), interfaces still as indexes."""
    n = rec["off"].shape[0]
    out = new_columns(n)
    decode_into(buf, rec, out, 0, n, linktypes, addresses)
    for c in RECORD_COLUMNS:
        out[c] = rec[c]
    return out


def assemble(cols, ifaces, addresses, ifindex_names):
    """The packet table from `decode_columns` output (of one batch, or of several joined);
    takes the arrays out of `cols`, so none is held twice."""
    cats = pd.Index(addresses.categories(), dtype="str")   # one Index: checked unique once
    table = {
        "frame": cols.pop("frame"),
        "ts_ns": cols.pop("ts_ns"),
        "iface": _iface_column(ifaces, cols.pop("iface"), cols.pop("ifindex"), ifindex_names),
        "direction": _categorical(cols.pop("direction"), DIRECTIONS),
        "ip_version": cols.pop("ip_version"),
        "src": _categorical(cols.pop("src"), cats),
        "dst": _categorical(cols.pop("dst"), cats),
    }
    for c in PACKET_COLUMNS:
        if c not in table:
            table[c] = cols.pop(c)
    return pd.DataFrame(table, copy=False)


def build_table(buf, rec, ifaces, linktypes, addresses, ifindex_names):
    """DataFrame for one batch of frame records."""
    return assemble(decode_columns(buf, rec, linktypes, addresses), ifaces, addresses,
                    ifindex_names)
