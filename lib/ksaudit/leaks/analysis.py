"""`analyze(scenario_dir) -> Analysis`: the scenario's episodes, leaks and verdict.

Stages: load and hash the evidence (`inputs`) -> put captures and events on the
reference clock (the first capture's clock) -> classify every frame
(`classify`) -> episodes from events and packet gaps (`episodes`) -> figures
and reasons per episode (`figures`) -> the scenario verdict (`verdict`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ksaudit.align.scenario import align_scenario
from ksaudit.leaks import classify as cl
from ksaudit.leaks import declarations as decl
from ksaudit.leaks.episodes import (PROCESS_KINDS, boot_start, build_spans, gap_threshold_ns,
                                    packet_gaps, unclaimed_process_events, with_handshakes)
from ksaudit.leaks.handshakes import handshake_kinds, handshake_list, keepalives, responses
from ksaudit.leaks.evidence import dissect_leaks
from ksaudit.leaks.figures import assign_episodes, dedupe, episode_figures
from ksaudit.digest import file_sha256
from ksaudit.leaks.inputs import combine, load_captures, load_logs
from ksaudit.leaks.verdict import FAIL_CODES, Reason, decide
from ksaudit.scenario import load_scenario
from ksaudit.window import resolve_window

SCHEMA = "ksaudit.analysis/1"
MAX_EVIDENCE = 20          # leak frames deep-dissected per episode (and for the steady state)
MAX_LEAK_ROWS = 500        # leak rows in to_dict(); the full table is .leaks / --leaks
_LEAK_COLUMNS = ["capture", "frame", "ts_ns", "iface", "direction", "ip_version", "src", "dst",
                 "proto", "sport", "dport", "length", "category", "episode", "rule"]


@dataclass(frozen=True)
class Analysis:
    """Everything `analyze` found; `to_dict()` is the documented JSON document."""
    scenario: object
    verdict: object
    episodes: tuple
    steady_state: dict
    packets: pd.DataFrame = field(repr=False)
    events: pd.DataFrame = field(repr=False)
    leaks: pd.DataFrame = field(repr=False)
    alignment: dict = field(repr=False)
    device: object = None
    classification: dict = field(default_factory=dict)
    captures: tuple = ()
    logs: tuple = ()
    inputs: tuple = ()
    parameters: dict = field(default_factory=dict)
    notes: tuple = ()

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    def to_dict(self, max_leak_rows: int = MAX_LEAK_ROWS) -> dict:
        """The analysis document (docs/analysis-json.md); deterministic."""
        from ksaudit import __version__
        rows = self.leaks.head(max_leak_rows)
        table = []
        for r in rows.itertuples(index=False):
            table.append({"capture": self.captures[int(r.capture)]["file"], "frame": int(r.frame),
                          "ts_ns": int(r.ts_ns), "iface": str(r.iface),
                          "direction": str(r.direction), "ip_version": int(r.ip_version),
                          "src": str(r.src), "dst": str(r.dst), "proto": int(r.proto),
                          "sport": int(r.sport), "dport": int(r.dport), "length": int(r.length),
                          "category": str(r.category),
                          "episode": int(r.episode) if int(r.episode) else None,
                          "rule": str(r.rule)})
        return {
            "schema": SCHEMA, "ksaudit_version": __version__,
            "scenario": self.scenario.to_dict(),
            "verdict": self.verdict.status,
            "reasons": [r.to_dict() for r in self.verdict.reasons],
            "episodes": [e.to_dict() for e in self.episodes],
            "steady_state": dict(self.steady_state),
            "classification": dict(self.classification),
            "device": {"addresses": list(self.device.addresses),
                       "declared": self.device.declared, "statement": self.device.statement},
            "leaks": {"total": int(len(self.leaks)), "shown": len(table), "rows": table},
            "captures": [dict(c) for c in self.captures],
            "alignment": dict(self.alignment),
            "window": self.parameters.get("window"),
            "logs": [x.to_dict() for x in self.logs],
            "inputs": [dict(x) for x in self.inputs],
            "parameters": dict(self.parameters),
            "notes": list(self.notes),
        }


def _probe_interval(probes: pd.DataFrame, packets: pd.DataFrame) -> int | None:
    """Median spacing of consecutive probe sequence numbers (log, else payload send times)."""
    for seq, ts in ((probes["probe_seq"].to_numpy() if len(probes) else np.array([]),
                     probes["ts_ns"].to_numpy() if len(probes) else np.array([])),
                    (packets["probe_seq"].to_numpy(), packets["probe_send_ns"].to_numpy())):
        ok = seq >= 0
        if ok.sum() < 2:
            continue
        order = np.argsort(seq[ok], kind="stable")
        s, t = seq[ok][order].astype(np.int64), ts[ok][order].astype(np.int64)
        keep = np.diff(s) > 0
        if not keep.any():
            continue
        per = np.diff(t)[keep] // np.diff(s)[keep]
        return int(np.median(per)) if len(per) else None
    return None


def analyze(scenario_dir, *, max_evidence: int = MAX_EVIDENCE, deep: bool = True) -> Analysis:
    """Analyse one scenario directory: episodes, every frame classified, leaks, verdict.

    Parameters
    ----------
    scenario_dir : str or os.PathLike
        Directory holding scenario.yaml, its captures and logs (opened read-only).
    max_evidence : int
        Leaked frames deep-dissected (DNS name, TLS SNI, HTTP Host) per episode.
    deep : bool
        False skips deep dissection (figures and verdict are unchanged).

    Returns
    -------
    Analysis
        ``.verdict`` (PASS / FAIL / INCONCLUSIVE with reasons), ``.episodes``,
        ``.leaks`` (every leaked frame and reply), ``.packets`` (with ``rule``,
        ``category``, ``episode`` columns), ``.to_dict()``.

    Raises
    ------
    KsauditError
        scenario.yaml invalid, or an input that exists but cannot be read.
    """
    sc = load_scenario(scenario_dir)
    size, digest = file_sha256(sc.path("scenario.yaml"))
    inputs = [{"path": "scenario.yaml", "role": "scenario", "bytes": size, "sha256": digest}]
    caps = load_captures(sc, inputs)
    events, log_facts, missing_logs = load_logs(sc, inputs)
    glob = []                                     # Reason: hold for every episode
    if sc.incomplete:
        glob.append(Reason("incomplete_evidence", "scenario.yaml marks the evidence incomplete: "
                           + (sc.incomplete_reason or "no reason given")))
    for c in caps:
        if c.missing:
            glob.append(Reason("capture_gap", f"declared capture {c.file} is missing"))
        elif c.facts["dropped"]:
            glob.append(Reason("dropped_packets", f"{c.file}: {c.facts['dropped']} packets dropped "
                         "by the capture tool"))
    for f in missing_logs:
        glob.append(Reason("log_missing", f"declared log {f} is missing"))
    for f in log_facts:
        if not f.missing and not f.events:
            glob.append(Reason("log_missing", f"declared log {f.file} holds no event (empty file)"))
    packets = _empty_packets() if all(c.missing for c in caps) else combine(caps)
    vantages = [c.vantage for c in caps]
    probe_clock = next((lg.clock for lg in sc.logs if lg.format == "ksaudit-probe"), "device")
    tb = align_scenario(caps, packets, events, clocks=sc.clocks,
                        tolerance_ns=sc.tolerance_us * 1000, probe_clock=probe_clock)
    packets, events, caps = tb.packets, tb.events, list(tb.captures)
    if events is None:
        events = _empty_events()
    glob.extend(tb.reasons)
    dev_v = cl.device_vantage_mask(packets, vantages)
    device = cl.infer_device_addresses(packets, sc, dev_v)
    glob.extend(decl.evidence_reasons(packets, sc, vantages, device))
    rule, category = cl.classify(packets, sc, vantages, device)
    packets["rule"], packets["category"] = rule, category
    probes = events[events["kind"].astype(str) == "probe"]
    interval = _probe_interval(probes, packets)

    codes = rule.codes
    threshold = gap_threshold_ns(interval)
    transport = codes == cl.RULES.index("tunnel_transport")
    hs = handshake_kinds(packets, transport)
    # handshakes and upkeep are sent while reconnecting; and what the device receives on the
    # transport shows the server's side only (its pings, multicast it relays, data for a
    # killed client): a live client's inbound traffic also appears inside its tunnel
    _, to_dev = cl.sent_and_received(packets, vantages, device)
    no_data = (hs > 0) | keepalives(packets, transport) | (transport & to_dev)
    gaps = _tunnel_gaps(packets, caps, codes, dev_v, threshold, no_data)
    tol_ns = sc.tolerance_us * 1000
    hs_ts, hs_kinds, hs_refs = handshake_list(packets, caps, hs)
    is_resp = responses(hs_kinds)
    facts = [c.facts for c in caps]
    boot = _boot(sc, facts, probes, packets)
    spans = build_spans(events, {}, gaps, probe_interval_ns=interval, tolerance_ns=tol_ns,
                        interfaces=sc.physical_interfaces + sc.tunnel_interfaces,
                        processes=sc.processes,
                        responses=(hs_ts[is_resp], [r for r, k in zip(hs_refs, is_resp) if k]),
                        last_tunnel=_last_tunnel(packets, caps, codes, dev_v, no_data,
                                                 probes, interval),
                        boot=boot, first_tunnel=(_first_tunnel(packets, caps, codes, dev_v, no_data)
                                                 if boot else None))
    scen_reasons = list(glob)
    if not spans:       # a packet-only episode carries its own no_tunnel_down reason
        scen_reasons.append(Reason("no_tunnel_down", "no tunnel-down event was found in the logs"))
    lasts = [f["last_ns"] for f in facts if f["last_ns"] is not None]
    cutoff = max(lasts) if lasts else 0
    spans = with_handshakes(spans, hs_ts, hs_kinds, hs_refs, cutoff)
    packets["episode"] = assign_episodes(packets["ts_ns"].to_numpy(), spans, cutoff)
    is_leak = (codes == cl.RULES.index("leak")) | (codes == cl.RULES.index("leak_reply"))
    leaks = packets.loc[is_leak].sort_values(["ts_ns", "capture", "frame"], kind="stable")
    leaks = leaks.reset_index(drop=True)
    probe_frames = packets.loc[packets["probe_seq"].to_numpy() >= 0]
    evidence = dissect_leaks(sc, caps, leaks, max_evidence) if deep else {}
    attempts = np.sort(np.concatenate([probes["ts_ns"].to_numpy(np.int64),
                                       probe_frames["ts_ns"].to_numpy(np.int64)]))
    window = resolve_window(sc.window, probe_log_ns=probes["ts_ns"].to_numpy(np.int64),
                            probe_frame_ns=probe_frames["ts_ns"].to_numpy(np.int64),
                            capture_first_ns=facts[0]["first_ns"],
                            capture_last_ns=facts[0]["last_ns"])
    episodes, window_notes = [], []
    shared = {(r.code, r.message) for r in glob}
    working = _tunnel_working(packets, codes, dev_v, transport, no_data)
    for i, sp in enumerate(spans, 1):
        rows = leaks[leaks["episode"] == i]
        ep = episode_figures(
            i, sp, rows, probe_frames, probes, interval_ns=interval, cutoff_ns=cutoff,
            captures=facts, global_reasons=glob, tolerance_ns=tol_ns, attempts_ns=attempts,
            window=window, evidence=evidence.get(i, ()),
            kept_working=_kept_working(sp, working, threshold))
        early = _leaked_before_disconnect(rows, sp, tol_ns) if _not_promised(sc, sp) else 0
        if early:
            window_notes.append(_early_leak_note(ep, early))
        elif _not_promised(sc, sp):
            # listed in full, but the product promises nothing while the user is
            # disconnected: neither its leaks nor what it cannot prove count
            ep = replace(ep, promised=False)
            episodes.append(ep)
            window_notes.append(_not_promised_note(ep))
            continue
        episodes.append(ep)
        if not ep.in_window:
            # not under test: what it cannot prove does not count, but a frame that left
            # outside the tunnel did leave (fail closed: a window never hides a leak)
            window_notes.append(_outside_note(ep, window))
            scen_reasons.extend(r for r in ep.reasons if r.code in FAIL_CODES)
            continue
        scen_reasons.extend(r for r in ep.reasons if (r.code, r.message) not in shared)
    judged = [ep for ep in episodes if ep.in_window and ep.promised]
    if spans and not judged:
        # an unpromised disconnect is listed, but a product that promises nothing there
        # was not tested there: a PASS would claim a kill switch nobody checked
        scen_reasons.append(Reason("no_tunnel_down", "no tunnel-down episode overlaps the test "
                                   "window (every episode found lies outside it)"
                                   if all(ep.promised for ep in episodes) else
                                   "no tunnel-down episode is under test (every episode in the "
                                   "test window is a disconnect the product does not promise "
                                   "to block)"))
    steady_state = _steady_state(leaks, evidence)
    if steady_state["leaked_frames"] or steady_state["reply_frames"]:
        n, b, r = (steady_state[k] for k in ("leaked_frames", "leaked_bytes", "reply_frames"))
        scen_reasons.append(Reason("steady_state_leak", f"{n} frame(s), {b} bytes left outside "
                                   f"the tunnel outside any tunnel-down episode"
                                   + (f" ({r} reply frame(s))" if r else "")))
    verdict = decide(scen_reasons, has_episode=bool(judged))
    counts = pd.Series(codes).value_counts()
    classification = {r: int(counts.get(i, 0)) for i, r in enumerate(cl.RULES)}
    params = {"tolerance_us": sc.tolerance_us, "allow_lan": sc.allow_lan,
              "allow": [a.text for a in sc.allow], "max_evidence": max_evidence,
              "deep_dissection": deep, "probe_interval_ns": interval,
              "gap_threshold_ns": threshold, "reference_clock": tb.reference,
              "window": None if window is None else window.to_dict()}
    notes = [device.statement, *tb.notes, *window_notes,
             *_declaration_notes(sc, packets, vantages, device, facts, classification),
             *_process_notes(sc, events), *_promise_notes(sc), *sc.notes]
    for f in facts:
        unnamed = [i for i in f["interfaces"] if i.startswith("#")]
        if f["vantage"] == "device" and unnamed:
            notes.append(f"{f['file']}: interface(s) {', '.join(unnamed)} have no name, so none "
                         "of their frames counts as inside the tunnel (declare device.ifindex "
                         "or captures[].interface)")
    return Analysis(sc, verdict, tuple(episodes), steady_state, packets, events, leaks,
                    tb.to_dict(), device, classification, tuple(facts), tuple(log_facts),
                    tuple(inputs), params, tuple(notes))


def _declaration_notes(sc, packets, vantages, device, facts, classification) -> list:
    """Declarations the evidence never shows, and what allow rules and endpoints allowed
    (``leaks.declarations``)."""
    return decl.notes(sc, packets, vantages, device, facts, classification)


def _process_notes(sc, events) -> list:
    """Say whether process events were filtered by ``vpn.processes`` (only when the logs
    hold any): unfiltered, an unrelated service's exit opens a spurious episode."""
    proc = events[events["kind"].astype(str).isin(PROCESS_KINDS)]
    if proc.empty:
        return []
    if sc.processes is None:
        return [f"process exits were not filtered because vpn.processes is not declared: "
                f"every process_exit ({int((proc['kind'].astype(str) == 'process_exit').sum())} "
                "in the logs) opens a tunnel-down episode, whichever process it names"]
    ignored = proc[unclaimed_process_events(proc, sc.processes)]
    if ignored.empty:
        return []
    return [f"{len(ignored)} process event(s) name none of vpn.processes "
            f"({', '.join(sc.processes)}) and are not episode evidence"]


def _tunnel_gaps(packets, caps, codes, dev_v, threshold, handshake) -> list:
    """Gaps in tunnel-side traffic (device vantage points when there are any).

    Frames that do not show a working tunnel do not end a gap: tunnel handshakes
    and session upkeep (sent while reconnecting, before routes are back; the
    handshakes are listed as end evidence instead), transport the device received
    (the server's side), and link-local or
    multicast chatter on a tunnel interface that has just come back (router
    solicitations, MLD) before any route through it exists."""
    tun = _tunnel_side(packets, codes, dev_v, handshake)
    if threshold is None or not tun.any():
        return []
    idx = np.flatnonzero(tun)
    idx = idx[np.argsort(packets["ts_ns"].to_numpy()[idx], kind="stable")]
    frames, capn = packets["frame"].to_numpy(), packets["capture"].to_numpy()
    return packet_gaps(packets["ts_ns"].to_numpy()[idx],
                       lambda i: f"{caps[int(capn[idx[i]])].file}#{int(frames[idx[i]])}",
                       threshold)


def _outside_note(ep, window) -> str:
    """Why an episode is not judged, with what it holds (it stays listed in full)."""
    where = ("begins after the test window ends" if ep.outside_window == "after"
             else "ends before the test window begins")
    held = (f"but {ep.leaked_frames} frame(s) left outside the tunnel in it, which count "
            "as leaks wherever they are" if ep.leaked_frames
            else "no frame left outside the tunnel in it")
    return (f"episode {ep.id} {where} ({window.source}: {window.start_ns} .. "
            f"{window.end_ns} ns): what it cannot prove does not change the verdict; {held}; "
            f"its own verdict is {ep.verdict}")


def _not_promised(sc, span) -> bool:
    """A user disconnect the product does not promise to block: ``scenario: disconnect``
    with ``vpn.blocks_when_disconnected: false``, an episode a tunnel-down log line opens
    (a crash, a lost link, a sleep or a gap in the packets is no user disconnect)."""
    return (sc.scenario == "disconnect" and sc.blocks_when_disconnected is False
            and span.start_kind == "tunnel_down")


def _leaked_before_disconnect(rows, span, tol_ns) -> int:
    """Leaked frames of an episode sent before its user disconnect (the tunnel-down
    line, less the tolerance): the tunnel was already down while the user was connected,
    which the product does promise to block."""
    return int((rows["ts_ns"].to_numpy() < span.start_band[0] - tol_ns).sum())


def _early_leak_note(ep, early) -> str:
    return (f"episode {ep.id} opens with a user disconnect, but {early} frame(s) left "
            "outside the tunnel before the disconnect was logged (the tunnel was down while "
            "the user was connected): judged as promised, whatever "
            "vpn.blocks_when_disconnected says")


def _not_promised_note(ep) -> str:
    held = (f"{ep.leaked_frames} frame(s) left outside the tunnel in it and are listed"
            if ep.leaked_frames else "no frame left outside the tunnel in it")
    return (f"episode {ep.id} is a user disconnect the product does not promise to block "
            f"(vpn.blocks_when_disconnected: false): {held}, but neither its leaks nor what it "
            f"cannot prove change the verdict; its own verdict is {ep.verdict}")


def _promise_notes(sc) -> list:
    """What ``vpn.blocks_when_disconnected`` did, when it matters or is misplaced."""
    if sc.scenario == "disconnect" and sc.blocks_when_disconnected is None:
        return ["vpn.blocks_when_disconnected is not declared: the disconnect is judged as if "
                "the product promised to block while disconnected (a leak fails); declare "
                "false to list a disconnect's leaks without failing"]
    if sc.scenario != "disconnect" and sc.blocks_when_disconnected is not None:
        return [f"vpn.blocks_when_disconnected applies to scenario: disconnect only; this is "
                f"scenario: {sc.scenario}, so it changes nothing"]
    return []


def _boot(sc, facts, probes, packets):
    """``scenario: boot``: where its boot episode begins (`boot_start`), else None.
    Without any captured frame there is no start: nothing covers the boot."""
    firsts = [(f["first_ns"], f["file"]) for f in facts if f["first_ns"] is not None]
    if sc.scenario != "boot" or not firsts:
        return None
    sent = probes.loc[probes["probe_result"].astype(str) == "sent", "ts_ns"]
    frames = packets.loc[packets["probe_seq"].to_numpy() >= 0, "ts_ns"]
    first = min([int(x.min()) for x in (sent, frames) if len(x)], default=None)
    return boot_start(firsts, first, sc.tolerance_us * 1000)


def _first_tunnel(packets, caps, codes, dev_v, handshake):
    """(time, name) of the first tunnel-side frame (as `_tunnel_gaps` counts them), or None."""
    tun = _tunnel_side(packets, codes, dev_v, handshake)
    if not tun.any():
        return None
    ts = packets["ts_ns"].to_numpy()
    i = int(np.flatnonzero(tun)[np.argmin(ts[tun])])
    return int(ts[i]), f"{caps[int(packets['capture'].iat[i])].file}#{int(packets['frame'].iat[i])}"


def _last_tunnel(packets, caps, codes, dev_v, handshake, probes, interval):
    """(time, name) of the last tunnel-side frame (as `_tunnel_gaps` counts them), or None.

    Only when probes were still attempted more than one interval after it: tunnel
    traffic that ends because the probes ended says nothing about the tunnel."""
    tun = _tunnel_side(packets, codes, dev_v, handshake)
    if not tun.any() or not interval:
        return None
    ts = packets["ts_ns"].to_numpy()
    i = int(np.flatnonzero(tun)[np.argmax(ts[tun])])
    probe_ts = np.concatenate([probes["ts_ns"].to_numpy(np.int64),
                               ts[packets["probe_seq"].to_numpy() >= 0]])
    if not len(probe_ts) or probe_ts.max() <= ts[i] + interval:
        return None
    return int(ts[i]), f"{caps[int(packets['capture'].iat[i])].file}#{int(packets['frame'].iat[i])}"


def _tunnel_side(packets, codes, dev_v, handshake) -> np.ndarray:
    """Frames that show a working tunnel (see `_tunnel_gaps`)."""
    inside = codes == cl.RULES.index("inside_tunnel")
    tun = (inside & ~cl.cat_test(packets["dst"], _local_or_multicast)) | \
        ((codes == cl.RULES.index("tunnel_transport")) & ~handshake)
    return tun & dev_v if dev_v.any() else tun


def _tunnel_working(packets, codes, dev_v, transport, no_data) -> np.ndarray:
    """Sorted times of the data the device sent on the tunnel's transport: encapsulated
    frames that left on a physical interface, so the tunnel carried traffic then (frames
    inside the tunnel interface alone do not show that: they appear while the link is down)."""
    sent = transport & ~no_data
    sent = sent & dev_v if dev_v.any() else sent
    return np.sort(packets["ts_ns"].to_numpy()[sent], kind="stable")   # sorted runs per capture


def _kept_working(span, working, threshold) -> int:
    """How many transport data frames the device sent inside a logged episode whose
    tunnel never stopped carrying them (no stretch longer than the gap threshold without
    one, between the start band and the end band); 0 when the tunnel did stop.  A logged
    tunnel-down the packets disprove tested nothing: the kill switch had nothing to block."""
    if not span.from_events or span.end_band is None or threshold is None:
        return 0
    lo, hi = span.start_band[1], span.end_band[0]
    if hi - lo <= 2 * threshold:
        return 0
    inside = working[(working > lo) & (working < hi)]
    if len(inside) < 2:
        return 0
    steps = np.diff(np.concatenate([[lo], inside, [hi]]))
    return len(inside) if steps.max() <= threshold else 0


def _local_or_multicast(text) -> bool:
    a = cl._addr(text)
    return a is not None and (a.is_link_local or a.is_multicast)


def _steady_state(leaks, evidence) -> dict:
    """Figures of the leaks outside every episode (deduped like an episode's)."""
    steady = leaks[leaks["episode"] == 0]
    sent = steady[steady["rule"].astype(str) == "leak"]
    n, b = dedupe(sent)
    replies, _ = dedupe(steady[steady["rule"].astype(str) == "leak_reply"])
    return {"leaked_frames": n, "leaked_bytes": b, "reply_frames": replies,
            "destinations": sorted(set(sent["dst"].astype(str))),
            "first_leak_ns": int(sent["ts_ns"].min()) if n else None,
            "last_leak_ns": int(sent["ts_ns"].max()) if n else None,
            "evidence": [dict(e) for e in evidence.get(0, ())]}


def _empty_events() -> pd.DataFrame:
    from ksaudit.schema import EVENT_COLUMNS
    return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in EVENT_COLUMNS.items()})


def _empty_packets() -> pd.DataFrame:
    from ksaudit.schema import PACKET_COLUMNS
    df = pd.DataFrame({c: pd.Series([], dtype=d) for c, d in PACKET_COLUMNS.items()})
    df["capture"] = np.array([], np.int16)
    return df
