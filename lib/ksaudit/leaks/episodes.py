"""Tunnel-down episodes from log events and from packet evidence, merged.

Event evidence: an episode opens at the first of ``tunnel_down``, ``link_down``,
``sleep``, ``process_exit`` while the tunnel is up and closes at the next
``tunnel_up``; ``firewall_block/release``, ``link_up``, ``wake``,
``network_change`` and ``process_start`` in between are listed as evidence.
Several logs often report the same transition (NetworkManager at 100 us, the
client at 1 us, wireguard-go at 1 s): start (end) events that begin inside the
first one's interval are one moment, defined by the narrowest interval; the
others are listed after it as corroborating evidence.  With the scenario's
``vpn.processes``, a ``process_exit``/``process_start`` that names none of them
(`process_names`: the event's identifier, the units and leading process its message
names) is no episode evidence at all; without it every process exit counts.

Packet evidence: a gap in tunnel-side traffic (frames inside the tunnel and
encapsulated traffic with the endpoint) longer than the gap threshold.  Packet
evidence is dense enough to move an episode's boundaries only when probes run
(threshold = max(5 probe intervals, 50 ms)); without probes an idle tunnel is
indistinguishable from a dead one, so packet evidence is only listed.

An event episode takes the packet gaps that overlap it.  Its start and end are
the log events (``start_ns``, ``end_ns``); its bounds widen to the packet
evidence: ``start_lo_ns`` = min(event lower bound, last tunnel frame before the
gap), ``end_hi_ns`` = max(event upper bound, first tunnel frame after it).
Leaks are assigned to ``[start_lo_ns, end_hi_ns]``, so a leak that precedes the
log line (the log lags the failure) still belongs to the episode, with a
negative time to first leak.  An episode never restored in the logs ends where
tunnel traffic resumes.  Gaps that overlap no event episode become packet-only
episodes.  Where the log time lies outside the packet evidence by more than one
probe interval plus the tolerance, the episode carries a note.

A ``scenario: boot`` also has a boot episode (`boot_span`): the evidence begins
before the tunnel ever came up, and that stretch, to the tunnel's first coming up,
is judged like any tunnel-down episode (docs/events.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

START_KINDS = ("tunnel_down", "link_down", "sleep", "process_exit")
END_KINDS = ("tunnel_up",)
DURING_KINDS = ("firewall_block", "firewall_release", "link_up", "wake", "network_change",
                "process_start")
MIN_GAP_NS = 50_000_000
PROCESS_KINDS = ("process_exit", "process_start")
_UNIT = re.compile(r"([\w@:.\\-]+?)\.(service|scope|socket|slice|target|mount|timer)\b")
_LEADING = re.compile(r"^\s*([^\s:\[\]]+)(?:\[\d+\])?:")


@dataclass(frozen=True)
class Span:
    """An episode's boundaries and the evidence that defines them (definer first)."""
    start_ns: int
    start_lo_ns: int
    start_hi_ns: int
    end_ns: int | None                 # None: never restored while evidence lasted
    end_lo_ns: int | None
    end_hi_ns: int | None
    start_evidence: tuple
    end_evidence: tuple
    during_evidence: tuple = ()
    notes: tuple = ()
    from_events: bool = True
    start_band: tuple = (0, 0)         # (lo, hi): where the boundary lies, all evidence
    end_band: tuple | None = None      # combined (see `combine_bounds`); None: not restored
    start_kind: str | None = None      # event kind that defines the start; "boot"; None: packets


@dataclass(frozen=True)
class Gap:
    start_ns: int                      # last tunnel-side frame before the gap
    end_ns: int                        # first tunnel-side frame after it
    start_ref: str
    end_ref: str


def gap_threshold_ns(probe_interval_ns: int | None) -> int | None:
    """The shortest tunnel-traffic gap that counts as evidence, or None without probes."""
    if not probe_interval_ns:
        return None
    return max(5 * int(probe_interval_ns), MIN_GAP_NS)


def packet_gaps(ts_ns: np.ndarray, ref_of, threshold_ns: int) -> list:
    """Gaps longer than `threshold_ns` between consecutive tunnel-side frames.

    `ts_ns` must be sorted; `ref_of(i)` names frame i (e.g. ``"device.pcapng#812"``).
    """
    if len(ts_ns) < 2:
        return []
    idx = np.flatnonzero(np.diff(ts_ns) > threshold_ns)
    return [Gap(int(ts_ns[i]), int(ts_ns[i + 1]), ref_of(i), ref_of(i + 1)) for i in idx]


def _rel(delta_ns: int) -> str:
    return f"{abs(delta_ns) // 1000} us " + ("after" if delta_ns >= 0 else "before")


def _describe(ev, files) -> str:
    where = files.get(str(ev.file), str(ev.file))
    msg = " ".join(str(ev.message).split())
    msg = msg if len(msg) <= 80 else msg[:79] + "\u2026"
    return f"{ev.kind} {where}:{ev.line} \"{msg}\""


def _base_names(name: str) -> set:
    """`name` and its short forms: ``/usr/sbin/openvpn`` -> ``openvpn``;
    ``openvpn-client@mullvad.service`` -> ``openvpn-client@mullvad``, ``openvpn-client``."""
    name = name.strip()
    out = {name, name.rsplit("/", 1)[-1]}
    for n in list(out):
        m = _UNIT.fullmatch(n)
        if m:
            out.add(m.group(1))
            out.add(m.group(1).split("@", 1)[0])
    return {n.casefold() for n in out if n}


def process_names(ident, message) -> set:
    """The processes and units a log event names (casefolded, with their short forms).

    Parameters
    ----------
    ident : str
        The event's identifier column (syslog identifier / process / provider / tag).
    message : str
        The message: every systemd unit in it (``mullvad-daemon.service: Main process
        exited`` names ``mullvad-daemon.service`` and ``mullvad-daemon``) and a leading
        ``name:`` / ``name[pid]:`` count.

    Returns
    -------
    set of str
    """
    names = set()
    ident = ident if isinstance(ident, str) else ""
    message = message if isinstance(message, str) else ""
    if ident:
        names |= _base_names(re.sub(r"\[\d+\]$", "", ident))
    for m in _UNIT.finditer(message):
        names |= _base_names(m.group(0))
    m = _LEADING.match(message)
    if m:
        names |= _base_names(m.group(1))
    return names


def names_declared_process(ident, message, processes) -> bool:
    """True when the event names one of `processes` (``vpn.processes``), short forms
    included on both sides."""
    declared = set().union(*(_base_names(p) for p in processes))
    return bool(process_names(ident, message) & declared)


def unclaimed_process_events(events: pd.DataFrame, processes) -> np.ndarray:
    """Boolean mask over `events`: process events naming none of `processes`."""
    proc = events["kind"].astype(str).isin(PROCESS_KINDS).to_numpy()
    idents = events["ident"] if "ident" in events else pd.Series([""] * len(events))
    out = np.zeros(len(events), dtype=bool)
    for i in np.flatnonzero(proc):
        out[i] = not names_declared_process(idents.iat[i], events["message"].iat[i], processes)
    return out


def _same_moment(rows, kinds, used, files, i, group):
    """Reports of the same transition: rows of `group` kinds starting inside row i's
    interval (and not in `used`, which takes them); the narrowest interval defines the
    moment, the rest corroborate.  Returns (defining row, lowest t_lo_ns, texts)."""
    cand = [k for k in range(i, len(rows)) if kinds[k] in group
            and rows[k].ts_ns <= rows[i].t_hi_ns and k not in used]
    used.update(cand)
    best = min(cand, key=lambda k: (int(rows[k].t_hi_ns) - int(rows[k].t_lo_ns),
                                     int(rows[k].ts_ns)))
    texts = [_describe(rows[best], files)] + [_describe(rows[k], files) for k in cand
                                               if k != best]
    return rows[best], min(int(rows[k].t_lo_ns) for k in cand), texts


def event_spans(events: pd.DataFrame, files: dict, interfaces=None, processes=None) -> list:
    """Group aligned events into raw episodes: list of dicts (internal).

    With `interfaces` (the scenario's declared physical and tunnel interfaces), a
    ``link_down`` naming another interface (a docker bridge, a second NIC) does not
    open an episode; it is listed as during-evidence when it falls inside one.  With
    `processes` (``vpn.processes``), a process event naming none of them is dropped:
    neither opens an episode nor is listed as evidence."""
    if events is None or events.empty:
        return []
    ev = events[events["kind"].astype(str).isin(START_KINDS + END_KINDS + DURING_KINDS)]
    if processes is not None:
        ev = ev[~unclaimed_process_events(ev, processes)]
    ev = ev.sort_values(["ts_ns", "file", "line"], kind="stable")
    rows = list(ev.itertuples(index=False))
    kinds = [str(r.kind) for r in rows]
    if interfaces and "iface" in ev:
        known = set(interfaces)
        for k, r in enumerate(rows):
            name = r.iface if isinstance(r.iface, str) else ""
            if kinds[k] == "link_down" and name and name not in known:
                kinds[k] = "link_down_other"
    spans, cur, used = [], None, set()

    def same_moment(i, group):
        return _same_moment(rows, kinds, used, files, i, group)

    for i, row in enumerate(rows):
        if i in used:
            continue
        kind = kinds[i]
        if cur is None:
            if kind in START_KINDS:
                best, lo, texts = same_moment(i, START_KINDS)
                cur = {"start": best, "start_lo": lo, "start_ev": texts, "during": [],
                       "end": None, "end_ev": []}
            continue
        if kind in END_KINDS and _order_unknown(row, cur["start"]):
            # e.g. the client's start-up "up" and the kill's "down" in one 1 s stamp of two
            # files: nothing shows the up came after the down, so it cannot end the episode
            cur["during"].append(_describe(row, files) + " (in the start's interval, from "
                                 "another file: its order is unknown, so it does not end "
                                 "the episode)")
        elif kind in END_KINDS:
            best, _, texts = same_moment(i, END_KINDS)
            cur["end"], cur["end_ev"] = best, texts
            spans.append(cur)
            cur = None
        else:
            cur["during"].append(_describe(row, files))
    if cur is not None:
        spans.append(cur)
    return spans


@dataclass(frozen=True)
class Bound:
    """One piece of boundary evidence: a moment and the interval it is known to lie in."""
    ns: int
    lo_ns: int
    hi_ns: int

    @property
    def width_ns(self) -> int:
        return self.hi_ns - self.lo_ns


def combine_bounds(log: Bound | None, packets: Bound | None):
    """(moment, band, consistent) of one boundary from its log and packet evidence.

    The narrowest evidence fixes the moment.  Evidence that agrees narrows the band
    to the intervals' overlap.  When they disagree, a coarse log line widens the band
    the packets fix to the hull of both (it may widen, never replace it); packets that
    disagree with a more precise log line do not widen it: tunnel-side frames go on
    being captured after a link is lost (they queue on the tunnel interface) and the
    first tunnel frames precede the line that reports the tunnel up, so a note says
    how far apart they are instead (see `build_spans`)."""
    have = [b for b in (log, packets) if b is not None]
    best = min(have, key=lambda b: (b.width_ns, b is log))
    lo, hi = max(b.lo_ns for b in have), min(b.hi_ns for b in have)
    if lo <= hi:
        return min(max(best.ns, lo), hi), (lo, hi), True
    if best is log:
        return best.ns, (log.lo_ns, log.hi_ns), False
    return best.ns, (min(b.lo_ns for b in have), max(b.hi_ns for b in have)), False


def _meets(bound: Bound, lo_ns: int, hi_ns: int) -> bool:
    """The log interval `bound` reaches into ``[lo_ns, hi_ns]`` (a 1 s stamp agrees with
    a moment anywhere in its second)."""
    return bound.lo_ns <= hi_ns and bound.hi_ns >= lo_ns


def _packet_end(gap, interval, responses):
    """End evidence of a gap: from the first WireGuard handshake response inside it to
    the first tunnel data frame after it (else one probe interval before that frame)."""
    ts, refs = responses if responses is not None else ((), ())
    k = int(np.searchsorted(ts, gap.start_ns, side="right")) if len(ts) else 0
    if k < len(ts) and ts[k] <= gap.end_ns:
        return Bound(int(ts[k]), int(ts[k]), gap.end_ns), refs[k]
    return Bound(gap.end_ns, gap.end_ns - interval, gap.end_ns), None


def _order_unknown(end, start) -> bool:
    """An end event that may precede the start: its interval begins no later than the
    start's and another file logged it (within one file, line order is time order)."""
    return int(end.t_lo_ns) <= int(start.t_lo_ns) and str(end.file) != str(start.file)


def _end_bounds(log_end: Bound | None, pkt_end: Bound | None, notes: list):
    """((end_ns, end_lo_ns, end_hi_ns), end band) of an episode from its log and packet
    end evidence (see `combine_bounds`; the hull is where leaks are still assigned to
    it); ((None, None, None), None) without any: never restored."""
    if log_end is None and pkt_end is None:
        return (None, None, None), None
    end_ns, end_band, agree = combine_bounds(log_end, pkt_end)
    if not agree and pkt_end is not None and end_ns == pkt_end.ns:
        notes.append("end: the log line disagrees with the packets; the band spans both")
    have = [b for b in (log_end, pkt_end) if b is not None]
    return (end_ns, min(b.lo_ns for b in have), max(b.hi_ns for b in have)), end_band


def boot_start(firsts, sent_ns, tolerance_ns) -> tuple:
    """(ns, text): where the boot episode of a ``scenario: boot`` begins.

    That is when every declared capture is running, the last of their first frames
    (`firsts`: (ns, file) pairs; a capture proves coverage from its first frame only),
    or the first probe attempt the OS let out (`sent_ns`, or None) if that is earlier
    by more than the tolerance (closer, the two cannot be ordered: the log is stamped
    just before the frame it causes): such a datagram went somewhere before every
    capture ran, and the episode then starts uncovered (capture_gap)."""
    ns, name = max(firsts)
    if sent_ns is not None and sent_ns < ns - tolerance_ns:
        return int(sent_ns), "the first probe the OS let out"
    return int(ns), f"{name}'s first frame (from there every capture runs)"


def boot_span(events, files, boot, *, first_tunnel, probe_interval_ns, tolerance_ns,
              responses=None) -> Span:
    """The boot episode: from `boot` ((ns, text), `boot_start`), before the tunnel ever
    came up, to its first coming up.

    End evidence: the first ``tunnel_up`` logged after the start (reports of the same
    moment corroborate) and, with probes, the first tunnel data frame (`first_tunnel`:
    (ns, name) or None) with the handshake response before it, combined as any end
    (`combine_bounds`).  A tunnel-up line later than one probe interval plus the
    tolerance after that frame is a later episode's, not the boot's.  Never up: the
    episode is not restored (the captures do not cover its end)."""
    boot_ns, boot_text = boot
    interval = int(probe_interval_ns or 0)
    rows, kinds = [], []
    if events is not None and not events.empty:
        ev = events[events["kind"].astype(str).isin(END_KINDS + DURING_KINDS)
                    & (events["ts_ns"] >= boot_ns)]
        rows = list(ev.sort_values(["ts_ns", "file", "line"], kind="stable").itertuples(index=False))
        kinds = [str(r.kind) for r in rows]
    pkt = first_tunnel if first_tunnel is not None and interval else None
    limit = pkt[0] + interval + tolerance_ns if pkt is not None else np.iinfo(np.int64).max
    ends = [k for k, r in enumerate(rows) if kinds[k] in END_KINDS and int(r.t_lo_ns) <= limit]
    log_end, end_ev, notes = None, [], [_BOOT]
    if ends:
        best, _, end_ev = _same_moment(rows, kinds, set(), files, ends[0], END_KINDS)
        log_end = Bound(int(best.ts_ns), int(best.t_lo_ns), int(best.t_hi_ns))
    pkt_end = None
    if pkt is not None:
        pkt_end, _ = _packet_end(Gap(boot_ns, pkt[0], boot_text, pkt[1]), interval, responses)
        pkt_end = replace(pkt_end, lo_ns=max(pkt_end.lo_ns, boot_ns))   # not before the start
        end_ev.append(f"tunnel traffic began {pkt[1]}")
    end, end_band = _end_bounds(log_end, pkt_end, notes)
    stop = end[2] if end[0] is not None else np.iinfo(np.int64).max
    during = tuple(_describe(r, files) for r, k in zip(rows, kinds)
                   if k in DURING_KINDS and int(r.ts_ns) <= stop)
    return Span(boot_ns, boot_ns, boot_ns, *end, (f"the evidence begins before the tunnel "
                f"first came up: {boot_text}",), tuple(end_ev), during, tuple(notes), True,
                (boot_ns, boot_ns), end_band, "boot")


_BOOT = ("scenario: boot: the stretch before the tunnel first came up is an episode; what "
         "left outside the tunnel in it is a leak")


def build_spans(events, files, gaps, *, probe_interval_ns, tolerance_ns, interfaces=None,
                processes=None, responses=None, last_tunnel=None, boot=None, first_tunnel=None):
    """Merge event episodes and packet gaps into a sorted list of `Span`.

    Parameters
    ----------
    events : DataFrame
        Aligned event table (reference clock).
    files : dict
        Event ``file`` value -> path relative to the scenario directory.
    gaps : list of Gap
        From `packet_gaps` (empty without probes).
    probe_interval_ns : int or None
    tolerance_ns : int
    interfaces : iterable of str, optional
        Declared physical and tunnel interfaces (see `event_spans`).
    processes : iterable of str, optional
        ``vpn.processes``; None counts every process event (see `event_spans`).
    responses : (ndarray, list) or None
        Times (sorted) and frame names of WireGuard handshake responses: where a gap
        has one, the tunnel came back between it and the first tunnel data frame.
    last_tunnel : (int, str) or None
        The last tunnel-side frame of the captures (time, name): an episode that opens
        after it and is never restored (the client stopped) began after that frame.
    boot : (int, str) or None
        ``scenario: boot``: where the evidence begins (`boot_start`); the stretch from
        there to the tunnel's first coming up is an episode (`boot_span`).
    first_tunnel : (int, str) or None
        The first tunnel-side frame (time, name), the boot episode's packet end.

    Returns
    -------
    list of Span
    """
    interval = int(probe_interval_ns or 0)
    used = set()
    out = []
    for sp in event_spans(events, files, interfaces, processes):
        s, e = sp["start"], sp["end"]
        s_ns, e_ns = int(s.ts_ns), (int(e.ts_ns) if e is not None else None)
        # a gap belongs to the episode when it overlaps the events' intervals: two 1 s
        # stamps of the same second still hold the gap between them
        mine = [i for i, g in enumerate(gaps)
                if g.start_ns <= (int(e.t_hi_ns) if e is not None else np.iinfo(np.int64).max)
                and g.end_ns >= int(s.t_lo_ns)]
        used.update(mine)
        log_start = Bound(s_ns, min(int(s.t_lo_ns), sp["start_lo"]), int(s.t_hi_ns))
        log_end = Bound(e_ns, int(e.t_lo_ns), int(e.t_hi_ns)) if e is not None else None
        start_ev, end_ev, notes = list(sp["start_ev"]), list(sp["end_ev"]), []
        pkt_start = pkt_end = None
        if mine:
            g0, g1 = gaps[mine[0]], gaps[mine[-1]]
            start_ev.append(f"tunnel traffic ended {g0.start_ref}")
            pkt_start = Bound(g0.start_ns, g0.start_ns, g0.start_ns + interval)
            if not _meets(log_start, g0.start_ns - tolerance_ns,
                          g0.start_ns + interval + tolerance_ns):
                notes.append("start: logged " + _rel(s_ns - g0.start_ns) + " the last tunnel "
                             "frame (expected within one probe interval after it, give or "
                             f"take the tolerance of {tolerance_ns // 1000} us)")
            pkt_end, response = _packet_end(g1, interval, responses)
            resumed = f"tunnel traffic resumed {g1.end_ref}"
            end_ev.insert(0, resumed) if e is None else end_ev.append(resumed)
            if e is not None and not _meets(log_end, g1.end_ns - interval - tolerance_ns,
                                            g1.end_ns + tolerance_ns):
                notes.append("end: logged " + _rel(e_ns - g1.end_ns) + " tunnel traffic "
                             "resumed (expected within one probe interval before it, give "
                             f"or take the tolerance of {tolerance_ns // 1000} us)")
        elif (interval and e is None and last_tunnel is not None
              and last_tunnel[0] <= int(s.t_hi_ns)):
            start_ev.append(f"tunnel traffic ended {last_tunnel[1]}")
            pkt_start = Bound(last_tunnel[0], last_tunnel[0], last_tunnel[0] + interval)
        start_ns, start_band, agree = combine_bounds(log_start, pkt_start)
        if not agree and start_ns == pkt_start.ns:
            notes.append("start: the log line disagrees with the packets; the band spans both")
        end, end_band = _end_bounds(log_end, pkt_end, notes)
        lo = min(log_start.lo_ns, pkt_start.lo_ns if pkt_start is not None else log_start.lo_ns)
        out.append(Span(start_ns, lo, log_start.hi_ns, end[0], end[1], end[2],
                        tuple(start_ev), tuple(end_ev), tuple(sp["during"]), tuple(notes),
                        True, start_band, end_band, str(s.kind)))
    for i, g in enumerate(gaps):
        if i in used:
            continue
        pkt_end, _ = _packet_end(g, interval, responses)
        out.append(Span(g.start_ns, g.start_ns, g.start_ns + interval, pkt_end.ns,
                        pkt_end.lo_ns, pkt_end.hi_ns,
                        (f"tunnel traffic ended {g.start_ref}",),
                        (f"tunnel traffic resumed {g.end_ref}",), (),
                        (_PACKETS_ONLY,),
                        False, (g.start_ns, g.start_ns + interval),
                        (pkt_end.lo_ns, pkt_end.hi_ns)))
    if boot is not None:
        out.append(boot_span(events, files, boot, first_tunnel=first_tunnel,
                             probe_interval_ns=probe_interval_ns, tolerance_ns=tolerance_ns,
                             responses=responses))
    out.sort(key=lambda sp: sp.start_lo_ns)
    return _merge_overlaps(out)


_PACKETS_ONLY = "no log event marks this episode: found in packet evidence only"


def _merged_notes(a, b) -> tuple:
    """Notes of two merged episodes; "packet evidence only" goes once a log marks it."""
    notes = a.notes + b.notes + ("merged two overlapping episodes",)
    if a.from_events or b.from_events:
        notes = tuple(n for n in notes if n != _PACKETS_ONLY)
    return notes


def _merge_overlaps(spans):
    merged = []
    for sp in spans:
        if merged:
            last = merged[-1]
            # one episode when where the later one may start reaches where the earlier
            # may end (the bands, not the hulls: a 1 s tunnel-up line's far edge is not
            # evidence that the tunnel was still down there)
            last_end = last.end_band[1] if last.end_band is not None else np.iinfo(np.int64).max
            if sp.start_band[0] <= last_end:
                later = sp if (sp.end_ns is None or (last.end_ns is not None
                                                     and sp.end_ns > last.end_ns)) else last
                merged[-1] = Span(
                    last.start_ns, last.start_lo_ns, last.start_hi_ns,
                    later.end_ns, later.end_lo_ns, later.end_hi_ns,
                    last.start_evidence, later.end_evidence,
                    last.during_evidence + sp.start_evidence + sp.during_evidence,
                    _merged_notes(last, sp),
                    last.from_events or sp.from_events,
                    last.start_band, later.end_band, last.start_kind)
                continue
        merged.append(sp)
    return merged




def with_handshakes(spans, ts_ns, kinds, refs, cutoff_ns):
    """Add to each episode's end evidence the first handshake of each kind seen in
    ``[start_ns, end_hi_ns]`` (`ts_ns` sorted; `kinds[i]` a `handshakes.LABELS` label,
    `refs[i]` the frame, e.g. ``"device.pcap#96"``)."""
    out = []
    for sp in spans:
        hi = sp.end_hi_ns if sp.end_ns is not None else cutoff_ns
        a, b = np.searchsorted(ts_ns, [sp.start_ns, hi], side="left")
        b = min(b + 1, len(ts_ns))
        found = {}
        for i in range(a, b):
            if ts_ns[i] <= hi and kinds[i] not in found:
                found[kinds[i]] = f"{kinds[i]} {refs[i]}"
        out.append(replace(sp, end_evidence=sp.end_evidence + tuple(found.values()))
                   if found else sp)
    return out
