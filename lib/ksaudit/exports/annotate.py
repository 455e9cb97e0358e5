"""Annotated pcapng copies of a scenario's captures, for reading the evidence in Wireshark.

`annotate_capture` copies one capture to a pcapng file and gives chosen frames pcapng
comments (``opt_comment``).  It streams: the input is walked by the packet reader's
compiled record walk (`ksaudit.pcap.scan`) and written as it goes, never held whole.

- pcapng in: every block is copied byte for byte, in order (section headers, every
  interface and statistics block, custom blocks, so Wireshark's frame numbers stay
  the same), except the blocks of commented frames: an enhanced (or obsolete) packet
  block gets its comments added before its end-of-options, and loses every comment
  that starts ``ksaudit `` (an earlier annotation's: a block holding one is rewritten
  even when this analysis comments nothing there, other comments stay); a simple packet block,
  which cannot hold options, becomes an enhanced packet block on the section's first
  interface with timestamp 0 (the reader's ``ts_ns`` for it, too).  A section header
  whose section length is set gets -1 (unknown), since the section grew.  A cut tail
  is copied as it is: Wireshark then reports the same cut.
- pcap in: a section header, one interface block with the file's link type, snap
  length, FCS length and timestamp resolution (``if_tsresol`` 6 or 9: a nanosecond
  capture keeps its nanoseconds), and one enhanced packet block per frame with the
  same bytes and timestamp.  A frame cut short by the end of the file is not copied.

`annotate_scenario` comments every leaked frame and reply of the analysis with text
that starts ``ksaudit leak`` and the frames that fix an episode's boundaries with
``ksaudit episode N start|end: ...`` (no "leak" in it), so
``tshark -Y 'frame.comment contains "ksaudit leak"'`` finds exactly the leaked frames.
"""

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ksaudit.errors import KsauditError
from ksaudit.exports.output import atomic_output, refuse_evidence
from ksaudit.pcap.scan import SHB_TYPE, Scanner

_BATCH = 1 << 16                 # frame records per walk batch
_COPY = 1 << 23                  # bytes per verbatim write
_EPB, _PB, _SPB = 6, 2, 3
_OPT_COMMENT, _IF_TSRESOL, _IF_FCSLEN, _SHB_USERAPPL = 1, 9, 13, 4
_UNKNOWN_LENGTH = b"\xff" * 8


@dataclass(frozen=True)
class Annotated:
    """What `annotate_capture` wrote: the frames copied, how many carry comments, the
    input's format and what was not copied (one line each)."""
    path: str
    input_format: str
    frames: int
    commented: int
    notes: tuple


class _SectionScanner(Scanner):
    """The packet reader's walk, also noting where each pcapng section header starts."""

    def _meta(self):
        pos = self.pos
        ok = super()._meta()
        if ok and bytes(self.buf[pos:pos + 4]) == SHB_TYPE:
            self.__dict__.setdefault("sections", []).append(pos)
        return ok


def _pad(n: int) -> int:
    return (n + 3) & ~3


def _option(code: int, value: bytes, o: str) -> bytes:
    return struct.pack(o + "HH", code, len(value)) + value + b"\0" * (_pad(len(value)) - len(value))


def _comments(texts, o: str) -> bytes:
    return b"".join(_option(_OPT_COMMENT, t.encode("utf-8"), o) for t in texts)


def _options(block: bytes, start: int, o: str):
    """(offset, code, length) of each well-formed option of a packet block from `start`,
    up to the end-of-options."""
    q, stop = start, len(block) - 4
    while q + 4 <= stop:
        code, ln = struct.unpack_from(o + "HH", block, q)
        if code == 0 or q + 4 + _pad(ln) > stop:
            return
        yield q, code, ln
        q += 4 + _pad(ln)


def _is_ours(block: bytes, q: int, code: int, ln: int) -> bool:
    """A comment starting ``ksaudit `` (an earlier annotation's, or one typed to look like
    it): never copied, so the filters find this analysis's frames only."""
    return code == _OPT_COMMENT and block[q + 4:q + 4 + ln].startswith(b"ksaudit ")


def _kept_options(block: bytes, start: int, o: str) -> bytes:
    """The options of a packet block from `start` but `_is_ours` comments, without the
    end-of-options."""
    return b"".join(block[q:q + 4 + _pad(ln)] for q, code, ln in _options(block, start, o)
                    if not _is_ours(block, q, code, ln))


def _stale(sc, rec) -> list:
    """Indexes of a batch's frames whose packet block already holds an `_is_ours` comment.

    Only blocks longer than a bare enhanced packet block (read in either byte order)
    have options to look at; a pcap from tcpdump has none, so this costs one gather."""
    off, caplen = rec["off"], rec["caplen"].astype(np.int64)
    b = sc.buf[np.clip(off - 24, 0, None)[:, None] + np.arange(4)].astype(np.int64)
    bare = 32 + ((caplen + 3) & ~3)
    le = b[:, 0] | b[:, 1] << 8 | b[:, 2] << 16 | b[:, 3] << 24
    be = b[:, 3] | b[:, 2] << 8 | b[:, 1] << 16 | b[:, 0] << 24
    found = []
    for i in np.flatnonzero((le != bare) & (be != bare)).tolist():
        start, blen, o, btype = _packet_block(sc, int(off[i]), int(caplen[i]),
                                              int(rec["length"][i]))
        block = bytes(sc.buf[start:start + blen])
        if btype != _SPB and any(_is_ours(block, *opt)
                                 for opt in _options(block, 28 + _pad(int(caplen[i])), o)):
            found.append(i)
    return found


def _packet_block(sc, off: int, caplen: int, wirelen: int):
    """(start, length, byte order, type) of the pcapng block whose frame data is at `off`."""
    buf = sc.buf
    for o in ("<", ">"):
        for btype, head in ((_EPB, 28), (_PB, 28), (_SPB, 12)):
            start = off - head
            if start < 0 or bytes(buf[start:start + 4]) != struct.pack(o + "I", btype):
                continue
            blen = struct.unpack(o + "I", bytes(buf[start + 4:start + 8]))[0]
            if btype != _SPB and struct.unpack(o + "II", bytes(buf[off - 8:off])) != (caplen, wirelen):
                continue
            return start, blen, o, btype
    raise KsauditError(f"{sc.path}: no packet block holds the frame data at byte {off}")


def _commented_block(sc, off, caplen, wirelen, texts) -> tuple:
    """(start, end, new bytes) of the block of one frame with `texts` as comments."""
    start, blen, o, btype = _packet_block(sc, off, caplen, wirelen)
    block = bytes(sc.buf[start:start + blen])
    if btype == _SPB:
        data = block[12:12 + caplen]
        body = (struct.pack(o + "IIIII", 0, 0, 0, caplen, wirelen) + data
                + b"\0" * (_pad(caplen) - caplen))
        btype = _EPB
    else:
        opts_at = 28 + _pad(caplen)
        body = block[8:opts_at] + _kept_options(block, opts_at, o)
    body += _comments(texts, o) + b"\0\0\0\0"
    total = 12 + len(body)
    return start, start + blen, struct.pack(o + "II", btype, total) + body + struct.pack(o + "I", total)


def _copy(out, sc, a: int, b: int):
    """Bytes [a, b) of the input, verbatim but for section lengths set to -1."""
    for p in (p for p in getattr(sc, "sections", ()) if a <= p < b):
        _write(out, sc.buf, a, p + 16)
        out.write(_UNKNOWN_LENGTH)
        a = p + 24
    _write(out, sc.buf, a, b)


def _write(out, buf, a, b):
    for q in range(a, b, _COPY):
        out.write(memoryview(buf[q:min(q + _COPY, b)]))


def _pcap_header(sc) -> bytes:
    """Section header and interface block standing for a pcap file's header."""
    from ksaudit import __version__
    o = "<"
    shb_opts = _option(_SHB_USERAPPL, f"ksaudit {__version__} annotate".encode(), o)
    shb_body = struct.pack(o + "IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts + b"\0\0\0\0"
    shb = struct.pack(o + "II", 0x0A0D0D0A, 12 + len(shb_body)) + shb_body
    shb += struct.pack(o + "I", 12 + len(shb_body))
    raw = struct.unpack((">" if sc.big else "<") + "I", bytes(sc.buf[20:24]))[0]
    iface = sc.ifaces[0]
    opts = _option(_IF_TSRESOL, bytes([iface["exp"]]), o)
    if raw & 0x10000000:                          # FCS length given, in 16-bit words
        opts += _option(_IF_FCSLEN, bytes([(raw >> 29) * 2]), o)
    body = struct.pack(o + "HHI", iface["linktype"], 0, iface["snaplen"]) + opts + b"\0\0\0\0"
    idb = struct.pack(o + "II", 1, 12 + len(body)) + body + struct.pack(o + "I", 12 + len(body))
    return shb + idb


def _pcap_frame(sc, off, caplen, wirelen, ts_ns, texts) -> bytes:
    ticks = ts_ns // sc.frac_ns                     # the file's own seconds and fraction
    data = sc.buf[off:off + caplen]
    opts = _comments(texts, "<") + b"\0\0\0\0" if texts else b""
    total = 32 + _pad(caplen) + len(opts)
    return b"".join((struct.pack("<IIIIIII", _EPB, total, 0, ticks >> 32, ticks & 0xFFFFFFFF,
                                 caplen, wirelen), data.tobytes(),
                     b"\0" * (_pad(caplen) - caplen), opts, struct.pack("<I", total)))


def annotate_capture(src, dst, comments) -> Annotated:
    """Copy a capture to pcapng at `dst`, frames numbered in `comments` commented.

    Parameters
    ----------
    src : str or os.PathLike
        A pcap or pcapng file (read only).
    dst : str or os.PathLike
        The pcapng file to write (atomically).
    comments : dict[int, list[str]]
        Frame number (as Wireshark and the packet table count them) -> comments.

    Returns
    -------
    Annotated

    Raises
    ------
    KsauditError
        `src` is not a readable capture, or `dst` cannot be written.
    """
    sc = _SectionScanner(src)
    copied = commented = 0
    cursor = 0
    with atomic_output(dst) as out:
        if sc.format == "pcap":
            out.write(_pcap_header(sc))
        while (rec := sc.records(_BATCH)) is not None:
            copied += len(rec["frame"])
            if sc.format == "pcap":
                for off, caplen, wirelen, ts, fno in zip(
                        rec["off"].tolist(), rec["caplen"].tolist(), rec["length"].tolist(),
                        rec["ts_ns"].tolist(), rec["frame"].tolist()):
                    texts = comments.get(fno, ())
                    commented += bool(texts)
                    out.write(_pcap_frame(sc, off, caplen, wirelen, ts, texts))
                continue
            frames = rec["frame"].tolist()
            for i in sorted({i for i, f in enumerate(frames) if comments.get(f)}
                            | set(_stale(sc, rec))):
                texts = comments.get(frames[i], ())
                start, end, block = _commented_block(
                    sc, int(rec["off"][i]), int(rec["caplen"][i]), int(rec["length"][i]), texts)
                _copy(out, sc, cursor, start)
                out.write(block)
                cursor, commented = end, commented + bool(texts)
        if sc.format == "pcapng":
            _copy(out, sc, cursor, sc.size)
    notes = []
    if sc.problem:
        pos, what = sc.problem
        kept = "copied as it is" if sc.format == "pcapng" else "not copied"
        notes.append(f"{sc.path}: {what} at byte offset {pos}; the rest of the file is {kept}")
    return Annotated(os.fspath(dst), sc.format, copied, commented, tuple(notes))


# -- what to say about which frame ----------------------------------------------------

def _offset_us(ts_ns: int, start_ns: int) -> str:
    d = ts_ns - start_ns
    sign = "-" if d < 0 else "+"
    return f"{sign}{abs(d) // 1000}.{abs(d) % 1000:03d} us"


def leak_comment(row, episode_start_ns) -> str:
    """``ksaudit leak episode 1 +11559.179 us rule=leak dst=203.0.113.80 ...``: the offset is
    from the episode's start (``start_ns``); outside every episode ``steady-state``."""
    where = (f"episode {int(row.episode)} {_offset_us(int(row.ts_ns), episode_start_ns)}"
             if int(row.episode) else "steady-state")
    port = f" dport={int(row.dport)}" if int(row.dport) >= 0 else ""
    return (f"ksaudit leak {where} rule={row.rule} dst={row.dst}{port} "
            f"category={row.category} src={row.src}")


def boundary_comments(episode, capture_file) -> dict:
    """Frame number -> comments for the frames of `capture_file` that an episode's start
    or end evidence names (``... <file>#<frame>``); the first evidence is the defining one."""
    ref = re.compile(r"^(.*) " + re.escape(capture_file) + r"#(\d+)$")
    found = {}
    for side, evidence in (("start", episode.start_evidence), ("end", episode.end_evidence)):
        for k, text in enumerate(evidence):
            m = ref.match(text)
            if m:
                label = m.group(1) + (" (defines the boundary)" if k == 0 else "")
                found.setdefault(int(m.group(2)), []).append(
                    f"ksaudit episode {episode.id} {side}: {label}")
    return found


def capture_comments(analysis, index: int) -> dict:
    """Frame number -> comments for capture `index` of an analysis: its leaked frames
    and replies, and the frames that fix episode boundaries."""
    file = analysis.captures[index]["file"]
    starts = {ep.id: ep.start_ns for ep in analysis.episodes}
    found = {}
    for ep in analysis.episodes:
        for frame, texts in boundary_comments(ep, file).items():
            found.setdefault(frame, []).extend(texts)
    rows = analysis.leaks[analysis.leaks["capture"].to_numpy() == index]
    for row in rows.itertuples(index=False):
        found.setdefault(int(row.frame), []).insert(
            0, leak_comment(row, starts.get(int(row.episode), 0)))
    return found


def output_name(capture_file: str) -> str:
    """``device.pcap`` -> ``device.pcapng``; sub-directories kept."""
    return Path(capture_file).with_suffix(".pcapng").as_posix()


def annotate_scenario(scenario_dir, out_dir) -> list:
    """Annotated pcapng copies of every capture of a scenario under `out_dir`.

    Parameters
    ----------
    scenario_dir : str or os.PathLike
        The scenario (read only; `out_dir` may not lie inside it).
    out_dir : str or os.PathLike
        Created if missing; each capture ``x.pcap`` becomes ``out_dir/x.pcapng``.

    Returns
    -------
    list of (capture file, Annotated or None when the capture is missing)
    """
    from ksaudit.leaks.analysis import analyze

    scenario_dir, out_dir = Path(scenario_dir).resolve(), Path(out_dir).resolve()
    if out_dir == scenario_dir or scenario_dir in out_dir.parents:
        raise KsauditError(f"-o {out_dir}: must lie outside the scenario directory (the "
                           "evidence is never written to)")
    analysis = analyze(scenario_dir, deep=False)
    names = [output_name(c["file"]) for c in analysis.captures]
    if len(set(names)) < len(names):
        raise KsauditError(f"{scenario_dir}: two captures would both be written as "
                           f"{next(n for n in names if names.count(n) > 1)}")
    for name in names:
        refuse_evidence(out_dir / name, "-o", analysis)
    done = []
    for i, (cap, name) in enumerate(zip(analysis.captures, names)):
        if cap["missing"]:
            done.append((cap["file"], None))
            continue
        dst = out_dir / name
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise KsauditError(f"{dst.parent}: cannot create: {exc.strerror or exc}") from None
        done.append((cap["file"], annotate_capture(scenario_dir / cap["file"], dst,
                                                   capture_comments(analysis, i))))
    return done
