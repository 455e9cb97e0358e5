"""Public readers: the packet table, its chunked form, and the file-level facts."""

import ctypes
import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ksaudit.errors import KsauditError
from ksaudit.pcap.scan import Interface, Scanner
from ksaudit.pcap import walk
from ksaudit.pcap.table import (RECORD_COLUMNS, AddressTable, assemble, build_table, decode_into,
                                new_columns)

BATCH_ROWS = 1 << 18     # read_packets walks and decodes this many frames at a time
_TRIM_ROWS = 100_000


def _release_scratch(rows):
    """Give the decoder's freed scratch arrays back to the OS (glibc keeps them otherwise)."""
    if rows < _TRIM_ROWS:
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):       # not glibc: nothing to do
        pass


class CaptureWarning(UserWarning):
    """A capture was readable only in part (truncated, bad block, trailing garbage)."""


@dataclass(frozen=True)
class CaptureInfo:
    """File-level facts of one capture (also in ``read_packets(...).attrs``)."""

    path: str
    format: str                       # "pcap" | "pcapng"
    link_types: tuple                 # distinct LINKTYPE values, in interface order
    interfaces: tuple                 # Interface per interface (global pcapng index)
    snaplen: int                      # largest snaplen of any interface
    packets: int
    first_ns: int | None              # earliest frame timestamp
    last_ns: int | None               # latest frame timestamp
    dropped: int | None               # sum of ISB isb_ifdrop + isb_osdrop; None: no ISB counters
    truncated: bool                   # reading stopped before the end of the file
    truncated_at: int | None          # byte offset of the first unreadable byte
    truncated_after_ns: int | None    # timestamp of the last complete frame before that
    warnings: tuple                   # human-readable problems, one line each
    bad_fraction_frames: int = 0      # pcap records with a µs (ns) field >= 1 s (a warning)

    def to_dict(self):
        """Plain dict (interfaces as dicts), as stored in ``DataFrame.attrs``."""
        return dataclasses.asdict(self)


class _Tally:
    def __init__(self):
        self.packets, self.first, self.last, self.final = 0, None, None, None

    def add(self, ts):
        if len(ts):
            lo, hi = int(ts.min()), int(ts.max())
            self.first = lo if self.first is None else min(self.first, lo)
            self.last = hi if self.last is None else max(self.last, hi)
            self.final = int(ts[-1])
            self.packets += len(ts)


def _info(sc, tally):
    ifaces = sc.interfaces()
    drops = [x for i in ifaces for x in (i.isb_ifdrop, i.isb_osdrop) if x is not None]
    notes = list(sc.warnings)
    if (frac := sc.fraction_warning()) is not None:
        notes.append(frac)
    if sc.format == "pcapng" and tally.first == 0:
        notes.append(f"{sc.path}: some frames have no timestamp (simple packet blocks); "
                     "their ts_ns is 0")
    if sc.problem:
        pos, what = sc.problem
        notes.insert(0, f"{sc.path}: {what} at byte offset {pos} (file size {sc.size}); "
                        f"kept the {tally.packets} complete frames before it")
    return CaptureInfo(
        path=sc.path, format=sc.format,
        link_types=tuple(dict.fromkeys(i.linktype for i in ifaces)), interfaces=ifaces,
        snaplen=max((i.snaplen for i in ifaces), default=0), packets=tally.packets,
        first_ns=tally.first, last_ns=tally.last, dropped=sum(drops) if drops else None,
        truncated=sc.problem is not None,
        truncated_at=sc.problem[0] if sc.problem else None,
        truncated_after_ns=tally.final if sc.problem else None, warnings=tuple(notes),
        bad_fraction_frames=int(sc.bad_frac[0]))


def _ifindex_names(ifindex):
    if ifindex is None:
        return {}
    try:
        return {int(k): str(v) for k, v in dict(ifindex).items()}
    except (TypeError, ValueError) as exc:
        raise KsauditError(f"ifindex must map interface numbers to names: {exc}") from None


def _warn(info):
    if info.truncated:
        warnings.warn(info.warnings[0], CaptureWarning, stacklevel=3)


def capture_info(path):
    """File-level facts of a capture without decoding its frames.

    Parameters
    ----------
    path : str or os.PathLike
        A pcap or pcapng file.

    Returns
    -------
    CaptureInfo
        Format, link types, interfaces (names, resolutions, ISB drop counters), packet
        count, first/last timestamps, truncation and warnings.  Does not warn; a
        truncated file is reported in ``truncated`` / ``warnings``.

    Raises
    ------
    KsauditError
        The file is missing, empty, or not a capture.
    """
    sc = Scanner(path)
    tally = _Tally()
    while (rec := sc.records(1 << 22)) is not None:
        tally.add(rec["ts_ns"])
    return _info(sc, tally)


def read_packets(path, ifindex=None):
    """Read a pcap or pcapng capture into the packet table, one row per frame.

    Parameters
    ----------
    path : str or os.PathLike
        A pcap (µs or ns, either byte order) or pcapng file.
    ifindex : dict[int, str], optional
        Linux interface index -> name, for ``tcpdump -i any`` captures (SLL2), e.g.
        ``{2: "wlan0", 3: "wg0"}``.  Unmapped indexes are named ``"#<index>"``.

    Returns
    -------
    pandas.DataFrame
        Columns and dtypes of ``ksaudit.schema.PACKET_COLUMNS``, in file order.
        ``df.attrs`` holds ``CaptureInfo.to_dict()`` (format, interfaces, drops,
        truncation, ...).  A truncated or partly corrupt file keeps every complete
        frame and emits one ``CaptureWarning``.

    Raises
    ------
    KsauditError
        The file is missing, empty, or not a capture.
    """
    names = _ifindex_names(ifindex)
    sc = Scanner(path)
    tally = _Tally()
    addresses = AddressTable()
    cols, n = _walk_and_decode(sc, addresses)
    tally.add(cols["ts_ns"])
    df = assemble(cols, sc.ifaces, addresses, names)
    _release_scratch(n)
    info = _info(sc, tally)
    df.attrs.update(info.to_dict())
    _warn(info)
    return df


def iter_packet_chunks(path, rows=1_000_000, ifindex=None):
    """Read a capture as a sequence of packet tables of at most ``rows`` frames each.

    Parameters
    ----------
    path : str or os.PathLike
        A pcap or pcapng file.
    rows : int
        Largest chunk, in frames (>= 1).
    ifindex : dict[int, str], optional
        As for ``read_packets``.

    Returns
    -------
    iterator of pandas.DataFrame
        The same columns as ``read_packets``; ``frame`` continues across chunks and
        address codes are stable (each chunk's categories extend the previous ones).
        Join chunks with ``concat_chunks``: plain ``pd.concat`` turns a categorical
        column whose categories differ between chunks (src, dst, ...) into text.
        Each chunk's ``attrs`` holds the facts known so far; once the iterator is
        exhausted the last chunk's ``attrs`` hold the whole file's (a truncation
        found only after the last full chunk included).  A capture without frames
        yields no chunk.
    """
    if not isinstance(rows, (int, np.integer)) or rows < 1:
        raise KsauditError(f"rows must be a positive integer, not {rows!r}")
    names = _ifindex_names(ifindex)
    sc = Scanner(path)
    tally = _Tally()
    addresses = AddressTable()
    last = None
    while (rec := sc.records(int(rows))) is not None:
        tally.add(rec["ts_ns"])
        df = build_table(sc.buf, rec, sc.ifaces, sc.linktypes(), addresses, names)
        sc.release()
        info = _info(sc, tally)
        df.attrs.update(info.to_dict())
        last = df
        yield df
    info = _info(sc, tally)
    if last is not None:
        last.attrs.update(info.to_dict())
    _warn(info)


def _walk_and_decode(sc, addresses):
    """(columns, rows) of the whole file: walked and decoded a batch at a time into one
    set of arrays, each batch's file pages dropped once decoded (``Scanner.release``),
    so the file is never resident whole and no batch is copied.  The arrays are sized
    for the smallest records (``Scanner.records``' estimate; untouched rows take no
    memory) and grow by doubling when the file has more frames."""
    cap = sc.size // 40 + 16
    rec, out = walk.new_records(cap), new_columns(cap)
    n = 0
    while not sc.done:
        if n == cap:
            cap *= 2
            rec = {k: np.resize(v, cap) for k, v in rec.items()}
            out = {k: np.resize(v, cap) for k, v in out.items()}
        m = sc.fill(rec, n, min(n + BATCH_ROWS, cap))
        decode_into(sc.buf, rec, out, n, m, sc.linktypes(), addresses)
        sc.release()
        n = m
    out = {k: v[:n] for k, v in out.items()}
    out.update((c, rec[c][:n]) for c in RECORD_COLUMNS)
    return out, n


def concat_chunks(chunks):
    """Join chunks of ``iter_packet_chunks`` into one packet table, dtypes kept.

    Parameters
    ----------
    chunks : iterable of pandas.DataFrame
        Chunks of one capture, in order (all of them, or a consecutive run).

    Returns
    -------
    pandas.DataFrame
        ``pd.concat`` of the chunks with a fresh index, every categorical column
        still categorical (categories: the union, in order of first appearance)
        and ``attrs`` of the last chunk; for all chunks of a file it equals
        ``read_packets`` of that file.

    Raises
    ------
    KsauditError
        No chunks were given.
    """
    chunks = list(chunks)
    if not chunks:
        raise KsauditError("concat_chunks: no chunks to join (a capture without frames "
                           "yields none; use read_packets for its empty table)")
    cats = {}
    for col, dtype in chunks[0].dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):
            union = dict.fromkeys(v for c in chunks for v in c[col].cat.categories)
            cats[col] = pd.CategoricalDtype(list(union))
    joined = pd.concat([c.astype(cats) if cats else c for c in chunks], ignore_index=True)
    joined.attrs = dict(chunks[-1].attrs)
    return joined


__all__ = ["CaptureInfo", "CaptureWarning", "Interface", "capture_info", "concat_chunks",
           "iter_packet_chunks", "read_packets"]
