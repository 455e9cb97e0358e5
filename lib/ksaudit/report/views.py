"""The sections of a scenario report, as escaped HTML fragments built from the
analysis document (docs/analysis-json.md).  The report notebook displays them.
"""

import platform
import sys
from datetime import datetime, timezone
from importlib import metadata

from ksaudit import __version__
from ksaudit.report.html import Html, chip, esc, facts, num, table
from ksaudit.report.stats import trial_summary

PROTOCOLS = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP", -1: "not IP"}
PACKAGES = ("numpy", "pandas", "scapy", "pyshark", "matplotlib", "papermill", "nbconvert",
            "ipykernel", "pyarrow", "numba", "evtx", "pyyaml")


def utc(ts_ns):
    """Integer ns since the epoch -> ISO 8601 UTC text with all nine digits; None -> "–"."""
    if ts_ns is None:
        return "–"
    ts_ns = int(ts_ns)
    whole = datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=timezone.utc)
    return f"{whole:%Y-%m-%d %H:%M:%S}.{ts_ns % 1_000_000_000:09d}Z"


def rel_us(ts_ns, origin_ns):
    """`ts_ns - origin_ns` as µs text with ns digits (exact integer arithmetic)."""
    if ts_ns is None or origin_ns is None:
        return "–"
    d = int(ts_ns) - int(origin_ns)
    sign = "-" if d < 0 else "+"
    d = abs(d)
    return f"{sign}{d // 1000:,}.{d % 1000:03d}"


def title(doc):
    """The report's heading: scenario name and build."""
    sc = doc.get("scenario") or {}
    return Html(f"<h1>{esc(sc.get('name') or 'Scenario')}</h1>"
                f'<p class="ks-note">Kill-switch verification report, build '
                f"{esc(sc.get('build', '?'))}, ksaudit {esc(doc.get('ksaudit_version', '?'))}</p>")


def verdict_banner(doc):
    """The verdict in large type with every reason it is not a PASS.

    Parameters
    ----------
    doc : dict
        An analysis document.

    Returns
    -------
    Html
    """
    verdict = doc.get("verdict", "ERROR")
    sc = doc.get("scenario") or {}
    episodes = doc.get("episodes") or []
    what = (f"{sc.get('name', '')}: build {sc.get('build', '?')}, {sc.get('platform', '?')}, "
            f"{sc.get('scenario', '?')}")
    reasons = [f"{r.get('message', '')} [{r.get('code', '')}"
               + (f", episode {r['episode']}]" if r.get("episode") is not None else "]")
               for r in doc.get("reasons") or []]
    if verdict == "PASS":
        res = [ep.get("detection_resolution_us") for ep in episodes
               if ep.get("detection_resolution_us") is not None]
        reasons = [f"no frame left outside the tunnel in {len(episodes)} tunnel-down "
                   f"episode(s)" + (f"; a leak shorter than {max(res):,} µs could go unseen"
                                    if res else "")]
    items = "".join(f"<li>{esc(r)}</li>" for r in reasons)
    return Html(f'<div class="ks-verdict ks-{esc(verdict)}"><span class="ks-verdict-word">'
                f'{esc(verdict)}</span><span class="ks-verdict-what">{esc(what)}</span>'
                f"<ul>{items}</ul></div>")


def tested(doc):
    """What was tested: build, platform, event, device, VPN, policy, vantage points, logs."""
    sc = doc.get("scenario") or {}
    device, vpn, policy = sc.get("device") or {}, sc.get("vpn") or {}, sc.get("policy") or {}
    vantages = [f"{c.get('file')} ({c.get('vantage')}, clock {c.get('clock')})"
                for c in doc.get("captures") or []]
    logs = [f"{lg.get('file')} ({lg.get('format')}, clock {lg.get('clock')})"
            for lg in doc.get("logs") or []]
    return facts([
        ("Scenario", sc.get("name", "")), ("Build", sc.get("build", "")),
        ("Platform", sc.get("platform", "")), ("Event", sc.get("scenario", "")),
        ("Description", sc.get("description", "")),
        ("Tunnel interfaces", ", ".join(map(str, device.get("tunnel_interfaces") or [])) or "–"),
        ("Physical interfaces", ", ".join(map(str, device.get("physical_interfaces") or [])) or "–"),
        ("VPN endpoints", ", ".join(map(str, vpn.get("endpoints") or [])) or "–"),
        ("Policy", f"allow_lan={policy.get('allow_lan', False)}; "
                   f"allow={', '.join(map(str, policy.get('allow') or [])) or 'nothing extra'}; "
                   f"tolerance {policy.get('tolerance_us', '?')} µs"),
        ("Vantage points", "; ".join(vantages) or "–"),
        ("Logs", "; ".join(logs) or "–"),
    ])


def evidence_table(doc):
    """Every input file with its role, size and SHA-256, then what each capture covers
    and what reading each log established (`log_table`)."""
    inputs = table(["File", "Role", "Bytes", "SHA-256"],
                   [[i.get("path"), i.get("role"), num(i.get("bytes")),
                     Html(f'<span class="ks-mono">{esc(i.get("sha256"))}</span>')]
                    for i in doc.get("inputs") or []],
                   numeric=["Bytes"], empty="no inputs recorded")
    caps = table(["Capture", "Vantage", "Packets", "First frame (UTC)", "Last frame (UTC)",
                  "Dropped", "Truncated", "Interfaces"],
                 [[c.get("file"), c.get("vantage"), num(c.get("packets")), utc(c.get("first_ns")),
                   utc(c.get("last_ns")), "unknown" if c.get("dropped") is None else num(c["dropped"]),
                   (f"yes, at {utc(c.get('truncated_at_ns'))}" if c.get("truncated") else "no"),
                   ", ".join(map(str, c.get("interfaces") or []))]
                  for c in doc.get("captures") or []],
                 numeric=["Packets"], empty="no captures")
    return Html(inputs + caps + log_table(doc))


def log_table(doc):
    """What reading each log established (the document's ``logs``: oslogs.LogFacts):
    format and how it was chosen, zone, events, malformed lines with examples, a
    skipped preamble, stamp resolution, notes."""
    rows = []
    for lg in doc.get("logs") or []:
        if lg.get("missing"):
            rows.append([lg.get("file"), lg.get("format"), "–", lg.get("clock"), "–", "–", "–",
                         "–", "–", "declared but missing"])
            continue
        how = lg.get("chosen_by") or "–"
        if how == "sniffed" and lg.get("sniff_score") is not None:
            how = f"sniffed (score {lg['sniff_score']:g})"
        zones = lg.get("stamp_zones") or {}
        zone = lg.get("timezone") or "none given"
        if zones:
            zone += " (" + ", ".join(f"{k}: {v:,}" for k, v in sorted(zones.items())) + ")"
        lines = [esc(n) for n in lg.get("notes") or []]
        lines += [esc(f"line {m.get('line')}: {m.get('reason')}: {m.get('text')}")
                  for m in lg.get("malformed_examples") or []]
        rows.append([lg.get("file"), lg.get("format"), how, lg.get("clock"), zone,
                     num(lg.get("events")), num(lg.get("malformed")),
                     num(lg.get("preamble_lines")) if lg.get("preamble_lines") else "–",
                     _resolution(lg.get("quantum_ns")), Html("<br>".join(lines) or "–")])
    return table(["Log", "Format", "Chosen", "Clock", "Timezone (stamps)", "Events", "Malformed",
                  "Preamble lines", "Resolution", "Notes and malformed lines"],
                 rows, numeric=["Events", "Malformed", "Preamble lines"],
                 empty="no logs declared")


def _resolution(quantum_ns):
    """1_000_000_000 -> "1 s", 1000 -> "1 µs"; None -> "–"."""
    if quantum_ns is None:
        return "–"
    for unit, size in (("s", 10**9), ("ms", 10**6), ("µs", 10**3)):
        if quantum_ns >= size and quantum_ns % size == 0:
            return f"{quantum_ns // size:,} {unit}"
    return f"{int(quantum_ns):,} ns"


def episodes_table(doc):
    """One row per tunnel-down episode with its figures."""
    rows, classes = [], []
    for ep in doc.get("episodes") or []:
        cats = ep.get("categories") or {}
        verdict = chip(ep.get("verdict", ""))
        if ep.get("outside_window"):
            verdict = Html(f"{verdict} outside the test window ({esc(ep['outside_window'])}; "
                           "not judged)")
        rows.append([ep.get("id"), verdict, utc(ep.get("start_ns")),
                     num(ep.get("start_uncertainty_us")), num(ep.get("end_uncertainty_us")),
                     num(ep.get("duration_us")), num(ep.get("leaked_frames")),
                     num(ep.get("leaked_bytes")), num(ep.get("distinct_destinations")),
                     num(ep.get("time_to_first_leak_us")), num(ep.get("window_us")),
                     ", ".join(f"{k} {v}" for k, v in sorted(cats.items()) if v) or "–"])
        classes.append("ks-leak" if ep.get("leaked_frames") else "")
    return table(["#", "Verdict", "Tunnel down (UTC)", "Start band µs", "End band µs",
                  "Duration µs", "Leaked frames", "Bytes", "Destinations",
                  "First leak after µs", "Window µs", "Categories"],
                 rows, row_classes=classes,
                 numeric=["#", "Start band µs", "End band µs", "Duration µs", "Leaked frames",
                          "Bytes", "Destinations", "First leak after µs", "Window µs"],
                 empty="no tunnel-down episode was found")


def zoom_note(doc, shown):
    """A note when fewer zooms than episodes are shown (empty otherwise)."""
    total = len(doc.get("episodes") or [])
    if shown >= total:
        return Html("")
    return Html(f'<p class="ks-note">{shown} of {total} episodes zoomed: those that leaked, widest '
                "window first; every episode is in the table above.</p>")


def _rows_to_show(rows, deep, max_rows):
    """At most `max_rows` leak rows in their own (time) order: every row whose frame has
    a DNS name, SNI or Host first, so a long leak cannot push the telling ones out."""
    if len(rows) <= max_rows:
        return rows
    def telling(r):
        ev = deep.get((r.get("capture"), r.get("frame"))) or {}
        return bool(ev.get("dns_query") or ev.get("tls_sni") or ev.get("http_host"))
    chosen = {i for i, r in enumerate(rows) if telling(r)}
    chosen = set(sorted(chosen)[:max_rows])
    for i in range(len(rows)):
        if len(chosen) >= max_rows:
            break
        chosen.add(i)
    return [rows[i] for i in sorted(chosen)]


def leak_table(doc, max_rows=200):
    """The leaked frames with their deep evidence (DNS name, TLS SNI, HTTP Host).

    Parameters
    ----------
    doc : dict
        An analysis document.
    max_rows : int
        At most this many rows (the document says how many leaks there are in all).

    Returns
    -------
    Html
    """
    leaks = doc.get("leaks") or {}
    deep = {}
    for ep in doc.get("episodes") or []:
        for ev in ep.get("evidence") or []:
            deep[(ev.get("capture"), ev.get("frame"))] = ev
    starts = {ep.get("id"): ep.get("start_ns") for ep in doc.get("episodes") or []}
    rows = []
    for r in _rows_to_show(leaks.get("rows") or [], deep, max_rows):
        ev = deep.get((r.get("capture"), r.get("frame")), {})
        proto = PROTOCOLS.get(r.get("proto"), f"proto {r.get('proto')}")
        ports = "" if r.get("sport") in (None, -1) else f" {r['sport']} → {r.get('dport')}"
        rows.append([r.get("episode") if r.get("episode") is not None else "steady",
                     f"{r.get('capture')}#{r.get('frame')}",
                     rel_us(r.get("ts_ns"), starts.get(r.get("episode"))), r.get("iface"),
                     f"{r.get('src')} → {r.get('dst')}", f"{proto}{ports}",
                     num(r.get("length")), r.get("category"),
                     ev.get("dns_query") or "", ev.get("tls_sni") or "", ev.get("http_host") or "",
                     ev.get("summary") or ""])
    shown = table(["Episode", "Frame", "µs after down", "Interface", "Source → destination",
                   "Protocol", "Bytes", "Category", "DNS name", "TLS SNI", "HTTP Host", "Summary"],
                  rows, numeric=["µs after down", "Bytes"], row_classes=["ks-leak"] * len(rows),
                  empty="no leaked frames")
    total = leaks.get("total", len(leaks.get("rows") or []))
    note = (f'<p class="ks-note">{len(rows):,} of {int(total):,} leaked frames shown (those with '
            f"a DNS name, TLS SNI or HTTP Host first, then the earliest); the analysis document "
            f"(summary.json) lists {int(leaks.get('shown', len(rows))):,}.</p>"
            if total and total > len(rows) else "")
    return Html(shown + note)


def probe_table(doc):
    """Probe statistics per episode and the detection resolution they give."""
    rows = []
    for ep in doc.get("episodes") or []:
        p = ep.get("probes") or {}
        rows.append([ep.get("id"), num(p.get("attempted")), num(p.get("sent")),
                     num(p.get("blocked")), num(p.get("leaked")), num(p.get("interval_us")),
                     num(ep.get("detection_resolution_us"))])
    return table(["Episode", "Attempted", "Sent", "Blocked by OS", "Seen outside the tunnel",
                  "Interval µs", "Detection resolution µs"], rows,
                 numeric=["Episode", "Attempted", "Sent", "Blocked by OS",
                          "Seen outside the tunnel", "Interval µs", "Detection resolution µs"],
                 empty="no probes in this scenario")


def trials(doc):
    """Repeated trials (one per episode): leak probability, 95 % Wilson interval, windows."""
    t = trial_summary(doc.get("episodes") or [])
    if not t.trials:
        return Html('<p class="ks-note">No episode gave a verdict: no trial to count.</p>')
    parts = [("Trials (episodes with a verdict)", num(t.trials)),
             ("Trials that leaked", num(t.leaked)),
             ("Leak probability", f"{t.probability:.1%} (95 % Wilson interval "
                                  f"{t.ci_low:.1%} – {t.ci_high:.1%})")]
    if t.windows_us:
        parts += [("Exposure window, median", f"{t.median_window_us:,} µs"),
                  ("Exposure window, widest", f"{t.max_window_us:,} µs"),
                  ("All windows (µs)", ", ".join(f"{w:,}" for w in t.windows_us))]
    return facts(parts)


def alignment(doc):
    """The clock alignment: reference clock, overall uncertainty, one row per segment."""
    al = doc.get("alignment") or {}
    win = doc.get("window") or {}
    head = facts([("Reference clock", al.get("reference", "–")),
                  ("Uncertainty", f"{num(al.get('uncertainty_us'))} µs "
                                  f"({num(al.get('uncertainty_ns'))} ns)"),
                  ("Test window", f"{utc(win.get('start_ns'))} – {utc(win.get('end_ns'))} "
                                  f"({win.get('source')})" if win else "–")])
    caps = [[c.get("file"), c.get("clock"), c.get("model"), num(c.get("offset_ns")),
             c.get("skew_ppm"), num(c.get("uncertainty_ns")) if c.get("uncertainty_ns")
             is not None else "unknown", c.get("note")] for c in al.get("captures") or []]
    placed = table(["Capture", "Clock", "Model", "Offset ns", "Skew ppm", "Uncertainty ns",
                    "How"], caps, numeric=["Offset ns", "Skew ppm", "Uncertainty ns"],
                   empty="no capture")
    rows = [[s.get("clock"), s.get("segment"), utc(s.get("start_ns")), utc(s.get("end_ns")),
             s.get("model"), num(s.get("offset_ns")), s.get("skew_ppm") if s.get("skew_ppm")
             is not None else "–", num(s.get("anchors")), num(s.get("residual_max_ns")),
             num(s.get("uncertainty_ns"))] for s in al.get("segments") or []]
    segs = table(["Clock", "Segment", "From (UTC)", "To (UTC)", "Model", "Offset ns",
                  "Skew ppm", "Anchors", "Max residual ns", "Uncertainty ns"], rows,
                 numeric=["Segment", "Offset ns", "Skew ppm", "Anchors", "Max residual ns",
                          "Uncertainty ns"], empty="every clock is the reference clock")
    return Html(head + placed + segs)


def provenance(doc, parameters):
    """ksaudit and package versions, the analysis schema and the report's parameters.

    Parameters
    ----------
    doc : dict
        An analysis document.
    parameters : dict
        The notebook's parameters as given.

    Returns
    -------
    Html
    """
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return facts([
        ("ksaudit", __version__), ("Analysis schema", doc.get("schema", "–")),
        ("Analysed by", f"ksaudit {doc.get('ksaudit_version', '?')}"),
        ("Python", f"{platform.python_implementation()} {sys.version.split()[0]}"),
        ("Packages", ", ".join(versions)),
        ("Parameters", "; ".join(f"{k} = {v!r}" for k, v in sorted(parameters.items()))),
        ("Frame classification", ", ".join(f"{k} {v:,}" for k, v in
                                           sorted((doc.get("classification") or {}).items()))
         or "–"),
    ])


def events_table(events, episodes=(), max_rows=80):
    """The log events that matter to the verdict (everything but individual probe lines).

    Parameters
    ----------
    events : pandas.DataFrame or None
        The aligned event table (``Analysis.events``).
    episodes : list of dict
        ``analysis["episodes"]``; times are shown relative to the nearest preceding start.
    max_rows : int
        Most rows shown; events of a named kind come before "other" ones.

    Returns
    -------
    Html
    """
    if events is None or not len(events):
        return Html('<p class="ks-note">no log events</p>')
    ev = events[events["kind"].astype(str) != "probe"]
    named = ev[ev["kind"].astype(str) != "other"]
    other = ev[ev["kind"].astype(str) == "other"]
    import pandas as pd

    chosen = named.head(max_rows)
    if len(chosen) < max_rows:
        chosen = pd.concat([chosen, other.head(max_rows - len(chosen))])
    chosen = chosen.sort_values(["ts_ns", "file", "line"], kind="stable")
    rows = [[utc(r.ts_ns), f"{(int(r.t_hi_ns) - int(r.t_lo_ns)) // 1000:,} µs",
             r.kind, f"{r.file}:{r.line}", r.message]
            for r in chosen.itertuples(index=False)]
    hidden = len(ev) - len(chosen)
    note = (f'<p class="ks-note">{hidden:,} more log events (and {len(events) - len(ev):,} '
            "probe log lines) are in the event table.</p>") if hidden or len(events) > len(ev) else ""
    return Html(table(["Time (UTC, reference clock)", "Interval width", "Kind", "Source", "Message"],
                      rows, empty="no log events besides probes") + note)
