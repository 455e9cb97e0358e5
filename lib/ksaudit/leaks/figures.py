"""Per-episode figures: leaks, windows, categories, probes, and the episode's verdict.

Several vantage points see the same packet: frame and byte counts are deduped
per flow (source, destination, protocol, ports, and the probe sequence number
for probes): a flow counts as many frames as the vantage point that saw the
most of them, with that vantage point's wire lengths.  First and last leak are
the earliest and latest sighting at any vantage point on the reference clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ksaudit.leaks.classify import CATEGORIES
from ksaudit.leaks.episodes import gap_threshold_ns
from ksaudit.leaks.verdict import Reason, decide

_FLOW = ["src", "dst", "proto", "sport", "dport", "probe_seq"]


@dataclass(frozen=True)
class Episode:
    """One tunnel-down episode with its figures (all times on the reference clock)."""
    id: int
    verdict: str
    reasons: tuple
    start_ns: int
    start_lo_ns: int
    start_hi_ns: int
    end_ns: int | None
    end_lo_ns: int | None
    end_hi_ns: int | None
    start_evidence: tuple
    end_evidence: tuple
    during_evidence: tuple
    notes: tuple
    duration_us: int | None
    leaked_frames: int
    leaked_bytes: int
    reply_frames: int
    destinations: tuple
    first_leak_ns: int | None
    last_leak_ns: int | None
    window_ns: int | None
    time_to_first_leak_ns: int | None
    categories: dict
    probes: dict
    detection_resolution_us: int | None
    by_capture: tuple
    evidence: tuple = ()
    start_band: tuple = (0, 0)         # (lo, hi) ns: where the boundary lies, all evidence
    end_band: tuple | None = None
    outside_window: str | None = None  # "after" / "before" the test window, else None
    promised: bool = True              # False: a user disconnect the product does not
                                       # promise to block (vpn.blocks_when_disconnected)

    @property
    def in_window(self) -> bool:
        return self.outside_window is None

    def to_dict(self) -> dict:
        us = (lambda v: None if v is None else v // 1000)
        return {
            "id": self.id, "verdict": self.verdict,
            "reasons": [r.to_dict() for r in self.reasons],
            "start_ns": self.start_ns, "start_lo_ns": self.start_lo_ns,
            "start_hi_ns": self.start_hi_ns, "end_ns": self.end_ns,
            "end_lo_ns": self.end_lo_ns, "end_hi_ns": self.end_hi_ns,
            "start_evidence": list(self.start_evidence), "end_evidence": list(self.end_evidence),
            "during_evidence": list(self.during_evidence), "notes": list(self.notes),
            "duration_us": self.duration_us,
            "leaked_frames": self.leaked_frames, "leaked_bytes": self.leaked_bytes,
            "reply_frames": self.reply_frames,
            "destinations": list(self.destinations),
            "distinct_destinations": len(self.destinations),
            "first_leak_ns": self.first_leak_ns, "last_leak_ns": self.last_leak_ns,
            "window_ns": self.window_ns, "window_us": us(self.window_ns),
            "time_to_first_leak_ns": self.time_to_first_leak_ns,
            "time_to_first_leak_us": us(self.time_to_first_leak_ns),
            "categories": dict(self.categories), "probes": dict(self.probes),
            "detection_resolution_us": self.detection_resolution_us,
            "by_capture": [dict(b) for b in self.by_capture],
            "evidence": [dict(e) for e in self.evidence],
            "start_band_ns": list(self.start_band),
            "start_uncertainty_us": (self.start_band[1] - self.start_band[0]) // 1000,
            "end_band_ns": None if self.end_band is None else list(self.end_band),
            "end_uncertainty_us": (None if self.end_band is None
                                   else (self.end_band[1] - self.end_band[0]) // 1000),
            "in_window": self.in_window, "outside_window": self.outside_window,
            "promised": self.promised,
        }


def assign_episodes(ts_ns: np.ndarray, spans, cutoff_ns: int) -> np.ndarray:
    """1-based episode id per timestamp, 0 outside every episode (steady state).

    An episode covers ``[start_lo_ns, end_hi_ns]``; never restored, it lasts
    until `cutoff_ns`.  `spans` are sorted and do not overlap."""
    out = np.zeros(len(ts_ns), np.int32)
    if not spans or not len(ts_ns):
        return out
    starts = np.array([s.start_lo_ns for s in spans], np.int64)
    ends = np.array([s.end_hi_ns if s.end_ns is not None else cutoff_ns for s in spans], np.int64)
    idx = np.searchsorted(starts, ts_ns, side="right") - 1
    ok = idx >= 0
    ok[ok] &= ts_ns[ok] <= ends[idx[ok]]
    out[ok] = idx[ok] + 1
    return out


def dedupe(rows: pd.DataFrame):
    """(frames, bytes) of leaked rows, each packet counted once across vantage points."""
    if rows.empty:
        return 0, 0
    flows = rows[_FLOW + ["capture", "length"]].astype({"src": str, "dst": str})
    per = flows.groupby(_FLOW + ["capture"], sort=True, observed=True).agg(
        n=("length", "size"), b=("length", "sum")).reset_index()
    per = per.sort_values(["n", "capture"], ascending=[False, True], kind="stable")
    best = per.drop_duplicates(_FLOW, keep="first")
    return int(best["n"].sum()), int(best["b"].sum())


def seq_ranges(seqs) -> list:
    """Sorted sequence numbers as compact ranges: [1, 2, 3, 7] -> ["1-3", "7"]."""
    out, run = [], None
    for s in sorted(int(x) for x in seqs):
        if run and s == run[1] + 1:
            run[1] = s
            continue
        if run:
            out.append(f"{run[0]}-{run[1]}" if run[1] > run[0] else str(run[0]))
        run = [s, s]
    if run:
        out.append(f"{run[0]}-{run[1]}" if run[1] > run[0] else str(run[0]))
    return out


def _matched_by_destination(logged, sent, interval_ns) -> set:
    """Seqs of logged probes (e.g. DNS probes, which carry no KSAPROBE payload) whose
    destination address and port received a leaked frame within one probe interval
    after the attempt."""
    if not len(logged) or not len(sent) or "probe_dst" not in logged:
        return set()
    left = logged.loc[logged["probe_result"].astype(str) == "sent", ["ts_ns", "probe_seq",
                                                                      "probe_dst"]].copy()
    left["key"] = left["probe_dst"].astype(str).str.replace(r"[\[\]]", "", regex=True)
    right = pd.DataFrame({"ts_ns": sent["ts_ns"].to_numpy(),
                          "key": sent["dst"].astype(str).to_numpy() + ":"
                          + sent["dport"].astype(str).to_numpy()})
    if not len(left):
        return set()
    m = pd.merge_asof(left.sort_values("ts_ns"), right.sort_values("ts_ns").assign(hit=True),
                      on="ts_ns", by="key", direction="forward",
                      tolerance=int(interval_ns or 10_000_000))
    return set(m.loc[m["hit"].eq(True), "probe_seq"].astype(int))


def probe_figures(probes: pd.DataFrame, frames: pd.DataFrame, lo: int, hi: int,
                  sent: pd.DataFrame, interval_ns: int | None) -> dict:
    """Probes of one episode: attempted (sent in ``[lo, hi)`` per the log or the
    captures, or leaked), sent / refused by the OS, tunnelled, leaked (a leaked frame
    carries its seq, or reached its destination within one interval), blocked
    (attempted, neither leaked nor tunnelled)."""
    logged = probes[(probes["ts_ns"] >= lo) & (probes["ts_ns"] < hi)] if len(probes) else probes
    seen = frames[(frames["ts_ns"] >= lo) & (frames["ts_ns"] < hi)]
    leaked = {int(x) for x in sent["probe_seq"] if x >= 0}
    leaked |= _matched_by_destination(logged, sent[sent["probe_seq"] < 0], interval_ns)
    tunnelled = set(seen.loc[seen["rule"].astype(str).isin(
        ["inside_tunnel", "tunnel_transport"]), "probe_seq"].tolist()) - leaked
    attempted = set(seen["probe_seq"].tolist()) | leaked
    if len(logged):
        attempted |= set(logged["probe_seq"].tolist())
        result = logged["probe_result"].astype(str)
    else:
        result = pd.Series([], dtype=str)
    return {
        "attempted": len(attempted), "sent": int((result == "sent").sum()),
        "refused": int((result != "sent").sum()), "tunnelled": len(tunnelled),
        "blocked": len(attempted - leaked - tunnelled), "leaked": len(leaked),
        "leaked_seqs": seq_ranges(leaked),
        "interval_ns": interval_ns, "interval_us": None if not interval_ns else interval_ns // 1000,
    }


def band_flips(band, leak_ns, attempts_ns, interval_ns, captures) -> list:
    """What inside an uncertain boundary band could change the verdict (DESIGN.md): a
    frame sent outside the tunnel, a stretch without probe attempts as long as a tunnel
    traffic gap (`gap_threshold_ns`), a capture edge."""
    lo, hi = band
    why = []
    n = int(((leak_ns >= lo) & (leak_ns <= hi)).sum())
    if n:
        why.append(f"{n} frame(s) left outside the tunnel")
    if not interval_ns:
        why.append("no probes ran, so nothing shows traffic was tried there")
    else:
        inside = attempts_ns[(attempts_ns >= lo) & (attempts_ns <= hi)]
        steps = np.diff(np.concatenate([[lo], inside, [hi]]))
        # the same stretch that counts as a gap in tunnel traffic (5 intervals, >= 50 ms):
        # a generator late by a few intervals on a loaded machine is not a silent device
        if steps.max() > gap_threshold_ns(interval_ns):
            why.append(f"no probe was attempted for {int(steps.max()) // 1000} us")
    edges = [c["file"] for c in captures if not c["missing"] and c["first_ns"] is not None
             and (lo < c["first_ns"] < hi or lo < c["last_ns"] < hi)]
    if edges:
        why.append(f"{', '.join(edges)} start(s) or end(s)")
    return why


def episode_figures(ep_id, span, leak_rows, probe_frames, probes, *, interval_ns, cutoff_ns,
                    captures, global_reasons, tolerance_ns, attempts_ns, window=None,
                    evidence=(), kept_working=0) -> Episode:
    """Build one `Episode`: figures from its leak rows, reasons, verdict.

    Parameters
    ----------
    ep_id : int (1-based)
    span : Span
    leak_rows : DataFrame
        Rows of the classified table with rule leak/leak_reply in this episode.
    probe_frames : DataFrame
        Rows with ``probe_seq >= 0`` (all rules), for the probe figures.
    probes : DataFrame
        Probe log events (aligned): ``ts_ns``, ``probe_seq``, ``probe_result``.
    captures : list of dict
        Per capture: file, first_ns, last_ns, dropped, truncated, truncated_at_ns.
    global_reasons : list of Reason
        Scenario-wide reasons that also hold for every episode.
    attempts_ns : ndarray of int64
        Sorted times of every probe attempt (log lines and probe frames).
    window : WindowUnderTest or None
        The test window; an episode wholly outside it is judged but marked so, and
        the caller leaves it out of the scenario's verdict.
    kept_working : int
        Transport data frames the device kept sending through a logged tunnel-down
        (``analysis._kept_working``); non-zero makes the episode ``no_tunnel_down``.
    """
    end = span.end_hi_ns if span.end_ns is not None else cutoff_ns
    reasons = [r.for_episode(ep_id) for r in global_reasons]
    sent = leak_rows[leak_rows["rule"].astype(str) == "leak"]
    replies = leak_rows[leak_rows["rule"].astype(str) == "leak_reply"]
    frames, nbytes = dedupe(sent)
    rframes, _ = dedupe(replies)
    first = int(sent["ts_ns"].min()) if len(sent) else None
    last = int(sent["ts_ns"].max()) if len(sent) else None
    cats = {c: 0 for c in CATEGORIES}
    for c in CATEGORIES:
        cats[c] = dedupe(sent[sent["category"].astype(str) == c])[0] if len(sent) else 0
    dests = tuple(sorted(set(sent["dst"].astype(str))))
    core_end = span.end_ns if span.end_ns is not None else cutoff_ns + 1
    pr = probe_figures(probes, probe_frames, span.start_ns, core_end, sent, interval_ns)
    by_cap = []
    for ci, grp in sent.groupby("capture", sort=True, observed=True):
        by_cap.append({"capture": captures[int(ci)]["file"], "frames": int(len(grp)),
                       "first_leak_ns": int(grp["ts_ns"].min()),
                       "last_leak_ns": int(grp["ts_ns"].max())})
    if frames:
        reasons.insert(0, Reason("leak", f"{frames} frame(s), {nbytes} bytes left outside the "
                                 f"tunnel to {len(dests)} destination(s)", ep_id))
    elif rframes:
        reasons.insert(0, Reason("leak", f"{rframes} reply frame(s) to leaked traffic seen "
                                 "outside the tunnel (the leaked frames themselves were not "
                                 "captured)", ep_id))
    cut = [c for c in captures if c["truncated"]
           and (c["truncated_at_ns"] is None or c["truncated_at_ns"] <= end)]
    if span.end_ns is None:
        reasons.append(Reason("capture_gap", "the tunnel was not restored before the "
                              "captures ended: the episode is not covered to its end", ep_id))
    else:
        # every declared capture must cover the episode: a vantage point that saw only
        # part of it (or nothing) cannot vouch for the rest, and the others do not see
        # what it sees (e.g. DNS to a LAN resolver never passes an external vantage)
        # (from where the start can lie to where the end can: a 1 s log line's far edge
        # past the capture's end does not matter when the packets fix the end)
        short = [c["file"] for c in captures if not c["missing"] and c not in cut
                 and not (c["first_ns"] is not None and c["first_ns"] <= span.start_band[0]
                          and c["last_ns"] >= span.end_band[1])]
        if short:
            verb = "does" if len(short) == 1 else "do"
            reasons.append(Reason("capture_gap", f"{', '.join(short)} {verb} not cover the "
                                  "whole episode (a capture proves coverage from its first to "
                                  "its last frame only)", ep_id))
    for c in cut:
        reasons.append(Reason("truncated_capture", f"{c['file']} is truncated inside or "
                              "before the end of this episode", ep_id))
    notes = list(span.notes)
    for label, band in (("start", span.start_band), ("end", span.end_band)):
        if band is None or band[1] - band[0] <= tolerance_ns:
            continue
        why = band_flips(band, sent["ts_ns"].to_numpy(), attempts_ns, interval_ns, captures)
        text = (f"the {label} is known only to within {(band[1] - band[0]) // 1000} us "
                f"({band[0]} .. {band[1]} ns), more than the tolerance "
                f"{tolerance_ns // 1000} us")
        if why:
            reasons.append(Reason("clock_uncertainty", f"{text}, and inside that band "
                                  + "; ".join(why), ep_id))
        else:
            notes.append(f"{text}; nothing inside that band could change the verdict (probes "
                         "were attempted throughout, no frame left outside the tunnel, the "
                         "captures cover it)")
    if not span.from_events:
        reasons.append(Reason("no_tunnel_down", "no log event marks this episode (tunnel traffic "
                              "stopped and resumed, but the logs do not say so)", ep_id))
    if kept_working:
        reasons.append(Reason("no_tunnel_down", f"the logs say the tunnel went down, but the "
                              f"device kept sending tunnel data ({kept_working} encapsulated "
                              "frame(s) to the endpoint, never a gap longer than the gap "
                              "threshold): nothing under test went down", ep_id))
    if pr["attempted"] == 0 and not frames and not rframes:
        reasons.append(Reason("no_traffic_attempted", "no probe or other traffic was attempted "
                              "during the episode: a silent device proves nothing", ep_id))
    verdict = decide(reasons)
    outside = None
    if window is not None:
        outside = window.outside(span.start_band[0],
                                 span.end_band[1] if span.end_band is not None else cutoff_ns)
    return Episode(
        ep_id, verdict.status, verdict.reasons, span.start_ns, span.start_lo_ns,
        span.start_hi_ns, span.end_ns, span.end_lo_ns, span.end_hi_ns,
        span.start_evidence, span.end_evidence, span.during_evidence, tuple(notes),
        None if span.end_ns is None else (span.end_ns - span.start_ns) // 1000,
        frames, nbytes, rframes, dests, first, last,
        None if first is None else last - first,
        None if first is None else first - span.start_ns,
        cats, pr, pr["interval_us"], tuple(by_cap), tuple(evidence),
        span.start_band, span.end_band, outside)
