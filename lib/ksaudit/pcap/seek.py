"""Chosen frames by number, found with the compiled record walk (for ``dissect``).

The walk knows every record's byte offset, so the bytes of a few hundred frames of
a million-frame capture come back at the walk's speed (millions of records/s)
instead of a Python record reader's.  Nothing is decoded here.
"""

from dataclasses import dataclass

import numpy as np

from ksaudit.pcap.scan import Scanner

_BATCH = 1 << 18      # records per walk batch: bounds the scratch arrays (~10 MB)
_LAST_POSSIBLE = 1 << 62   # no file holds a frame numbered higher (each takes >= 12 bytes)


@dataclass(frozen=True)
class FrameRecord:
    """One frame as stored: where its data starts, the captured bytes, link type
    of its interface and its original (wire) length."""

    offset: int
    data: bytes
    linktype: int
    wirelen: int


@dataclass(frozen=True)
class Located:
    """What ``locate_frames`` found: ``records`` per wanted frame number the walk
    reached; ``last_frame``, the last frame number the walk gave out; ``clean_end``,
    True when the walk reached the end of a well-formed file (so any wanted frame
    above ``last_frame`` is not in the capture)."""

    records: dict
    last_frame: int
    clean_end: bool


def locate_frames(path, frames, max_bytes=1 << 18):
    """Byte offset and bytes of each wanted frame, walking no further than needed.

    Parameters
    ----------
    path : str or os.PathLike
        A pcap or pcapng file (not compressed).
    frames : iterable of int
        Frame numbers as Wireshark counts them (the packet table's ``frame``).
    max_bytes : int
        At most this many captured bytes are returned per frame.

    Returns
    -------
    Located
        A wanted frame number at or below ``last_frame`` that is missing from
        ``records`` is a numbered pcapng block that holds no packet (custom or
        journal-export block).

    Raises
    ------
    KsauditError
        The file is missing, empty, or not a pcap/pcapng file.
    """
    wanted = np.unique(np.asarray([f for f in map(int, frames) if 1 <= f <= _LAST_POSSIBLE],
                                  np.int64))
    sc = Scanner(path)
    found = {}
    while len(wanted) and sc.fno < wanted[-1]:
        rec = sc.records(_BATCH)
        if rec is None:
            break
        numbers = rec["frame"]          # ascending within and across batches
        wanted_here = wanted[(wanted >= numbers[0]) & (wanted <= numbers[-1])]
        for frame, i in zip(wanted_here.tolist(), np.searchsorted(numbers, wanted_here).tolist()):
            if numbers[i] != frame:     # a numbered pcapng block that is no packet
                continue
            off = int(rec["off"][i])
            size = min(int(rec["caplen"][i]), max_bytes)
            found[frame] = FrameRecord(
                offset=off, data=bytes(sc.buf[off:off + size]),
                linktype=int(sc.ifaces[int(rec["iface"][i])]["linktype"]),
                wirelen=int(rec["length"][i]))
    return Located(records=found, last_frame=int(sc.fno),
                   clean_end=sc.done and sc.problem is None)
