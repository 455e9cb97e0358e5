"""``lab-truth.json``: what really happened, from the harness's clock and the sink.

The truth never comes from the capture: leaks are the probes the sink received from a
source address other than the VPN server's exit address (``VPN_EXITS``), assigned to a
trial by the probe's own send time.  Format: docs/lab.md.
"""

import json

from ksaudit import __version__
from ksaudit.lab import topology as topo
from ksaudit.leaks.episodes import gap_threshold_ns

FORMAT = "ksaudit-lab-truth/1"


def read_jsonl(path):
    """Records of a JSON-lines file written by the lab (missing file -> [])."""
    try:
        with open(path) as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except FileNotFoundError:
        return []


CLASSES = ("tunnel", "outside", "lan", "dns_lan", "dns_outside", "dns_tunnel")


def classify(rec):
    """One of CLASSES for a sink record: KSAPROBEs through the tunnel / outside it / to the
    LAN printer; DNS queries at the LAN resolver / at the tunnel's resolver from outside
    the tunnel / through it."""
    through = rec["src"] in topo.VPN_EXITS
    if rec["proto"] == "dns":
        if rec["dst"].startswith(topo.LAN_RESOLVER + ":"):
            return "dns_lan"
        return "dns_tunnel" if through else "dns_outside"
    if rec["dst"].startswith(topo.PRINTER_ADDR + ":"):
        return "lan"
    return "tunnel" if through else "outside"


def _leak_classes(allow_lan):
    return {"outside", "dns_lan", "dns_outside"} | (set() if allow_lan else {"lan"})


def build(meta, trials, setup_changes, sink_records, probe_records, captures):
    """The lab-truth document.

    Parameters: meta (dict: build, scenario, policy, event, allow_lan, ipv6, probes,
    probe_interval_ms, timing, run_id, started_ns, ended_ns); trials (list of dicts with
    down_ns, restored_ns, changes); setup_changes (list); sink_records / probe_records
    (lists of dicts as the sink / probe generator wrote them); captures (list of
    {file, vantage, dropped}).
    Returns: dict (JSON-ready, integers for every time).
    """
    # a user disconnect the product does not promise to block: its leaks do not count
    disconnect = meta["event"] == "disconnect"
    excused = disconnect and meta.get("blocks_when_disconnected") is False
    send_ts = {p["seq"]: p["ts_ns"] for p in probe_records}
    leak_cls = _leak_classes(meta["allow_lan"])
    # a trial a real client never recovered from lasts until the run's end
    windows = [(t["down_ns"], t["restored_ns"] or meta["ended_ns"]) for t in trials]

    def trial_of(seq):
        ts = send_ts.get(seq)
        for i, (lo, hi) in enumerate(windows):
            if ts is not None and lo <= ts <= hi:
                return i
        return None

    per_trial = [{**{f"{c}_seqs": [] for c in CLASSES}, "leak_arrivals": []} for _ in trials]
    steady = {**{f"{c}_seqs": [] for c in CLASSES}, "leak_arrivals": []}
    for rec in sink_records:
        cls = classify(rec)
        i = trial_of(rec["seq"])
        bucket = per_trial[i] if i is not None else steady
        bucket[f"{cls}_seqs"].append(rec["seq"])
        if cls in leak_cls:
            bucket["leak_arrivals"].append((rec["ts_ns"], rec["seq"], rec["src"], rec["dst"]))

    out_trials = []
    any_unprobed = False
    for n, (t, got, (lo, hi)) in enumerate(zip(trials, per_trial, windows), start=1):
        attempts = [p for p in probe_records if lo <= p["ts_ns"] <= hi]
        blocked = {}
        for p in attempts:
            if p["result"] != "sent":
                blocked[p["result"]] = blocked.get(p["result"], 0) + 1
        any_unprobed |= not attempts and not excused
        leaks = sorted(got["leak_arrivals"])
        kept = _tunnel_kept_working(got["tunnel_seqs"], send_ts, lo, t["restored_ns"],
                                    meta["probe_interval_ms"])
        out_trials.append({
            "trial": n,
            **({"promised": not excused} if disconnect else {}),
            **({"tunnel_kept_working": True} if kept else {}),
            "down_ns": t["down_ns"],
            "restored_ns": t["restored_ns"],
            "down_for_us": (t["restored_ns"] - lo) // 1000 if t["restored_ns"] else None,
            "state_changes": t["changes"],
            "firewall_changes": [c for c in t["changes"] if c["change"].startswith("firewall_")],
            "probes": {"attempted": len(attempts),
                       "sent": sum(1 for p in attempts if p["result"] == "sent"),
                       "blocked": blocked},
            "outside_seqs": sorted(got["outside_seqs"]),
            "dns_lan_seqs": sorted(got["dns_lan_seqs"]),
            "dns_outside_seqs": sorted(got["dns_outside_seqs"]),
            "lan_seqs": sorted(got["lan_seqs"]),
            "tunnel_seqs": sorted(got["tunnel_seqs"]),
            "leaked": bool(leaks),
            "leaked_probes": len(leaks),
            "first_leak_arrival_ns": leaks[0][0] if leaks else None,
            "last_leak_arrival_ns": leaks[-1][0] if leaks else None,
            "leak_sources": sorted({src for _, _, src, _ in leaks}),
            "leak_destinations": sorted({dst for _, _, _, dst in leaks}),
        })
    verdict, reasons = _expected(out_trials, steady, captures, any_unprobed, meta["probes"])
    # another rig's run (docs/lab.md "Another rig"): which, and how its client was stopped
    span = [min(p["ts_ns"] for p in probe_records), max(p["ts_ns"] for p in probe_records)] \
        if probe_records else None
    rig = ({"rig": meta["rig"], "teardown_changes": meta.get("teardown_changes", []),
            "probe_span_ns": span} if meta.get("rig", "lab") != "lab" else {})
    client = meta.get("client", "wireguard-go")      # a real client (docs/lab.md "Clients")
    rig.update({"client": client} if client != "wireguard-go" else {})
    return {
        "format": FORMAT,
        "ksaudit_version": __version__,
        **{k: meta[k] for k in ("build", "scenario", "policy", "event", "allow_lan", "ipv6",
                                "probes", "probe_interval_ms", "timing", "run_id",
                                "started_ns", "ended_ns")},
        **({"blocks_when_disconnected": meta.get("blocks_when_disconnected")} if disconnect else {}),
        "expected_verdict": verdict,
        "expected_reasons": reasons,
        "vpn_exit_addresses": list(topo.VPN_EXITS),
        "trial_count": len(out_trials),
        "trials": out_trials,
        "setup_changes": setup_changes,
        "steady_state": {"outside_seqs": sorted(steady["outside_seqs"]),
                         "dns_lan_seqs": sorted(steady["dns_lan_seqs"]),
                         "dns_outside_seqs": sorted(steady["dns_outside_seqs"]),
                         "lan_seqs": sorted(steady["lan_seqs"]),
                         "tunnel_seqs_count": len(steady["tunnel_seqs"]),
                         "leaked_probes": len(steady["leak_arrivals"])},
        "sink": {"received": len(sink_records),
                 "by_class": _count(classify(r) for r in sink_records)},
        "probe_log": {"attempts": len(probe_records),
                      "by_result": _count(p["result"] for p in probe_records)},
        "captures": captures,
        **rig,
    }


def _tunnel_kept_working(tunnel_seqs, send_ts, lo, hi, interval_ms) -> bool:
    """True when probes sent all through a trial reached the sink through the tunnel, never
    a stretch longer than the gap threshold without one (DESIGN's gap: 5 probe intervals,
    at least 50 ms): the event did not take the tunnel down (WireGuard roaming to a new
    LAN), so the trial tested no kill switch, whatever it blocked."""
    if hi is None:
        return False
    sent = sorted(send_ts[s] for s in tunnel_seqs if s in send_ts and lo <= send_ts[s] <= hi)
    if len(sent) < 2:
        return False
    marks = [lo, *sent, hi]
    return max(b - a for a, b in zip(marks, marks[1:])) <= gap_threshold_ns(int(interval_ms * 1e6))


def _count(items):
    out = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return dict(sorted(out.items()))


def _expected(trials, steady, captures, any_unprobed, probes):
    if any(t["leaked"] and t.get("promised", True) for t in trials):
        return "FAIL", ["leak"]
    if steady["leak_arrivals"]:
        return "FAIL", ["steady_state_leak"]
    reasons = []
    if any(c["dropped"] for c in captures):
        reasons.append("dropped_packets")
    if trials and all(t.get("promised") is False for t in trials):
        reasons.append("no_tunnel_down")  # every trial a disconnect nothing promised to block
    if any(t.get("tunnel_kept_working") for t in trials):
        reasons.append("no_tunnel_down")  # the event did not take the tunnel down: untested
    if not probes or any_unprobed:
        reasons.append("no_traffic_attempted")
    if any(t["restored_ns"] is None for t in trials):
        reasons.append("capture_gap")     # not back before the captures stopped (analyze: the same)
    return ("INCONCLUSIVE", reasons) if reasons else ("PASS", [])


def write(doc, path):
    with open(path, "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
