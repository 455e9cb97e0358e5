"""Figures for the reports: the scenario timeline, a µs zoom per episode, the window
distribution over repeated trials, the worst window per scenario of a build, and the
window trend across builds.

Each function returns a `matplotlib.figure.Figure` (no pyplot state, nothing shown
or saved); a notebook shows it with ``display(fig)``.  Times come in as int64 ns and
are turned into floats only after subtracting an origin, so nothing is lost.
"""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, StrMethodFormatter

from ksaudit.report.summary import worst_window_us
from ksaudit.report.views import utc

LEAK_RULES = ("leak", "leak_reply")
MAX_PLAIN_MARKS = 30_000  # ordinary frames drawn per figure; leaks and probes are always all drawn
COLORS = {"frame": "#9aa4b1", "probe": "#1f6feb", "leak": "#d1242f", "leak_reply": "#f0883e",
          "episode": "#f4a261", "down": "#d1242f", "up": "#1a7f37", "event": "#24292f",
          "blocked": "#8c959f"}
EVENT_MARKERS = {"tunnel_down": ("v", COLORS["down"]), "tunnel_up": ("^", COLORS["up"]),
                 "link_down": ("v", "#bc4c00"), "link_up": ("^", "#4d8f2a"),
                 "firewall_block": ("s", "#6e40c9"), "firewall_release": ("D", "#6e40c9"),
                 "process_exit": ("x", COLORS["down"]), "process_start": ("+", COLORS["up"]),
                 "sleep": ("v", "#57606a"), "wake": ("^", "#57606a")}


def _text(value):
    """Evidence text for a figure: `$` would start matplotlib mathtext (or fail to parse)."""
    return str(value).replace("$", r"\$")


def _lanes(packets, events, capture_names=None):
    """Lane labels, in display order: one per capture+interface, then one per log file."""
    lanes = []
    if packets is not None and len(packets):
        cap = None
        if "capture" in packets:
            cap = packets["capture"]
            if capture_names:
                cap = cap.map(lambda c: capture_names[int(c)] if 0 <= int(c) < len(capture_names)
                              else str(c))
            cap = cap.astype(str)
        keys = (cap + " " + packets["iface"].astype(str)) if cap is not None \
            else packets["iface"].astype(str)
        lanes += sorted(set(keys))
    else:
        keys = None
    ev_keys = None
    if events is not None and len(events):
        ev_keys = "log " + events["file"].astype(str).map(lambda f: Path(f).name)
        lanes += sorted(set(ev_keys))
    return lanes, keys, ev_keys


def _draw(ax, packets, events, t0_ns, scale, lo_ns=None, hi_ns=None, capture_names=None):
    """Plot frames and events as lane markers; return the lane labels."""
    lanes, keys, ev_keys = _lanes(packets, events, capture_names)
    ypos = {lane: i for i, lane in enumerate(lanes)}
    if keys is not None:
        ts = packets["ts_ns"].to_numpy(np.int64)
        keep = np.ones(len(ts), bool)
        if lo_ns is not None:
            keep &= (ts >= lo_ns) & (ts <= hi_ns)
        x = (ts - t0_ns) / scale
        y = keys.map(ypos).to_numpy(float)
        rule = packets["rule"].astype(str).to_numpy() if "rule" in packets else np.full(len(ts), "")
        probe = packets["probe_seq"].to_numpy() >= 0 if "probe_seq" in packets else np.zeros(len(ts), bool)
        leak = np.isin(rule, LEAK_RULES)
        plain = keep & ~leak & ~probe
        plain_label = "frame"
        count = int(plain.sum())
        if count > MAX_PLAIN_MARKS:  # a million grey ticks look like 30,000 and take seconds
            step = -(-count // MAX_PLAIN_MARKS)
            idx = np.flatnonzero(plain)
            plain = np.zeros(len(ts), bool)
            plain[idx[::step]] = True
            plain_label = f"frame (every {step}th drawn)"
        for mask, color, size, label in (
                (plain, COLORS["frame"], 9, plain_label),
                (keep & ~leak & probe, COLORS["probe"], 11, "probe frame"),
                (keep & (rule == "leak_reply"), COLORS["leak_reply"], 15, "reply to a leak"),
                (keep & (rule == "leak"), COLORS["leak"], 15, "leaked frame")):
            if mask.any():
                ax.plot(x[mask], y[mask], "|", color=color, markersize=size, mew=1.2,
                        label=label, zorder=3 if "leak" in label else 2)
    if ev_keys is not None:
        ts = events["ts_ns"].to_numpy(np.int64)
        keep = np.ones(len(ts), bool) if lo_ns is None else (ts >= lo_ns) & (ts <= hi_ns)
        x = (ts - t0_ns) / scale
        y = ev_keys.map(ypos).to_numpy(float)
        kind = events["kind"].astype(str).to_numpy()
        result = events["probe_result"].astype(str).to_numpy() if "probe_result" in events \
            else np.full(len(ts), "")
        probe = kind == "probe"
        groups = [(probe & (result == "sent"), ".", COLORS["probe"], "probe sent (log)"),
                  (probe & (result != "sent"), "x", COLORS["blocked"], "probe refused by OS (log)")]
        groups += [(kind == k, m, c, k.replace("_", " ")) for k, (m, c) in EVENT_MARKERS.items()]
        named = probe | np.isin(kind, list(EVENT_MARKERS))
        groups.append((~named, "|", COLORS["event"], "other log event"))
        for mask, marker, color, label in groups:
            mask = mask & keep
            if mask.any():
                ax.plot(x[mask], y[mask], marker, color=color, markersize=6 if marker != "|" else 9,
                        linestyle="none", label=label, zorder=4)
    ax.set_yticks(range(len(lanes)), [_text(lane) for lane in lanes])
    ax.set_ylim(-0.7, max(len(lanes), 1) - 0.3)
    ax.invert_yaxis()
    ax.grid(axis="x", color="#eaeef2", linewidth=0.8)
    return lanes


def _figure(n_lanes, width=11.0):
    fig = Figure(figsize=(width, 1.2 + 0.32 * max(n_lanes, 2)), layout="constrained")
    return fig, fig.add_subplot()


def _legend(ax):
    handles, labels = ax.get_legend_handles_labels()
    seen = {}
    for h, lab in zip(handles, labels):
        seen.setdefault(lab, h)
    if seen:
        ax.legend(seen.values(), seen.keys(), loc="upper left", bbox_to_anchor=(1.0, 1.0),
                  fontsize=8, frameon=False)


def timeline(packets, events, episodes, title=None, capture_names=None):
    """The whole scenario: one lane per capture interface and per log file.

    Parameters
    ----------
    packets : pandas.DataFrame
        Packet table on the reference clock (``Analysis.packets``): ts_ns, iface and,
        when present, capture, rule (leaks in red) and probe_seq (probes in blue).
    events : pandas.DataFrame
        Aligned event table (``Analysis.events``): ts_ns, kind, file, probe_result.
    episodes : list of dict
        ``analysis["episodes"]``; each is shaded from start_ns to end_ns.
    title : str, optional
    capture_names : list of str, optional
        File name of each capture, when ``packets["capture"]`` holds indexes.

    Returns
    -------
    matplotlib.figure.Figure
        x axis in seconds from the first tunnel-down (or the first frame).
    """
    starts = [ep["start_ns"] for ep in episodes if ep.get("start_ns") is not None]
    if starts:
        t0_ns = int(min(starts))
    elif packets is not None and len(packets):
        t0_ns = int(packets["ts_ns"].min())
    elif events is not None and len(events):
        t0_ns = int(events["ts_ns"].min())
    else:
        t0_ns = 0
    lanes, _, _ = _lanes(packets, events, capture_names)
    fig, ax = _figure(len(lanes))
    _draw(ax, packets, events, t0_ns, 1e9, capture_names=capture_names)
    for ep in episodes:
        if ep.get("start_ns") is None:
            continue
        end = ep.get("end_ns") if ep.get("end_ns") is not None else ep["start_ns"]
        ax.axvspan((ep["start_ns"] - t0_ns) / 1e9, (end - t0_ns) / 1e9, color=COLORS["episode"],
                   alpha=0.25, lw=0, label="tunnel down (episode)", zorder=1)
        ax.annotate(f"#{ep.get('id')}", ((ep["start_ns"] - t0_ns) / 1e9, 0), xycoords=("data", "axes fraction"),
                    xytext=(2, 2), textcoords="offset points", fontsize=8, color="#8a4b08")
    ax.set_xlabel(f"seconds from {'the first tunnel-down' if starts else 'the first frame'} "
                  f"({utc(t0_ns)})")
    if title:
        ax.set_title(_text(title), loc="left", fontsize=10)
    _legend(ax)
    return fig


def us_tick(x_us, xlim):
    """A µs tick label with thousands separators, with ns digits when the axis spans < 20 µs."""
    return f"{x_us:,.0f}" if abs(xlim[1] - xlim[0]) >= 20 else f"{x_us:,.3f}"


def episode_zoom(packets, events, episode, margin_us=2000, capture_names=None):
    """One episode on microsecond axes: the tunnel-down edge and the restore edge.

    Parameters
    ----------
    packets, events : pandas.DataFrame
        As for `timeline`.
    episode : dict
        One entry of ``analysis["episodes"]``.
    margin_us : int
        Context before and after each edge, µs.
    capture_names : list of str, optional
        As for `timeline`.

    Returns
    -------
    matplotlib.figure.Figure
        Left: from tunnel-down (with its uncertainty) to the first leak; right: from
        the last leak to the restore.  One panel when the two overlap.  x axes in µs
        from the episode's tunnel-down time.
    """
    start = int(episode["start_ns"])
    end = int(episode["end_ns"]) if episode.get("end_ns") is not None else start
    margin = int(margin_us) * 1000
    first, last = episode.get("first_leak_ns"), episode.get("last_leak_ns")
    first = int(first) if first is not None else start
    last = int(last) if last is not None else end
    panels = [(min(start, first) - margin, max(start, first) + margin),
              (min(end, last) - margin, max(end, last) + margin)]
    if panels[0][1] >= panels[1][0]:
        panels = [(panels[0][0], panels[1][1])]
    lanes, _, _ = _lanes(packets, events, capture_names)
    fig = Figure(figsize=(11, 1.4 + 0.32 * max(len(lanes), 2)), layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    s_lo = int(episode.get("start_lo_ns", start))
    s_hi = int(episode.get("start_hi_ns", start))
    for ax, (lo, hi) in zip(axes, panels):
        _draw(ax, packets, events, start, 1e3, lo, hi, capture_names)
        ax.axvspan((s_lo - start) / 1e3, max((s_hi - start) / 1e3, (s_lo - start) / 1e3 + 1e-3),
                   color=COLORS["down"], alpha=0.15, lw=0, label="tunnel-down (uncertainty)")
        ax.axvline(0, color=COLORS["down"], lw=1, ls="--", label="tunnel down")
        ax.axvline((end - start) / 1e3, color=COLORS["up"], lw=1, ls="--", label="tunnel restored")
        if episode.get("first_leak_ns") is not None:
            ax.axvspan((first - start) / 1e3, (last - start) / 1e3, color=COLORS["leak"], alpha=0.08,
                       lw=0, label=f"exposure window {int(episode.get('window_us') or 0):,} µs")
        ax.set_xlim((lo - start) / 1e3, (hi - start) / 1e3)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos, ax=ax: us_tick(x, ax.get_xlim())))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5 if len(panels) > 1 else 9))
        ax.set_xlabel("µs from tunnel-down")
    fig.suptitle(f"Episode {episode.get('id')}: {episode.get('verdict', '')}, tunnel down at "
                 f"{utc(start)}", x=0.0, ha="left", fontsize=10)
    if len(axes) > 1:
        axes[0].set_title("tunnel-down edge", loc="left", fontsize=9)
        axes[1].set_title("restore edge", loc="left", fontsize=9)
    _legend(axes[-1])
    return fig


def window_distribution(episodes):
    """Exposure window per trial (episode), with the median; None when no episode leaked.

    Parameters
    ----------
    episodes : list of dict
        ``analysis["episodes"]``.

    Returns
    -------
    matplotlib.figure.Figure or None
    """
    leaked = [ep for ep in episodes if ep.get("leaked_frames")]
    if not leaked:
        return None
    ids = [str(ep.get("id")) for ep in episodes]
    windows = [int(ep.get("window_us") or 0) if ep.get("leaked_frames") else 0 for ep in episodes]
    fig = Figure(figsize=(7, 2.6), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(ids, windows, color=[COLORS["leak"] if ep.get("leaked_frames") else COLORS["frame"]
                                for ep in episodes])
    median = float(np.median([int(ep.get("window_us") or 0) for ep in leaked]))
    ax.axhline(median, color="#24292f", lw=1, ls=":", label=f"median of leaking trials {median:,.0f} µs")
    ax.set_xlabel("trial (episode)")
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_ylabel("exposure window, µs")
    ax.legend(fontsize=8, frameon=False)
    return fig


VERDICT_COLORS = {"PASS": "#1a7f37", "FAIL": "#d1242f", "INCONCLUSIVE": "#9a6700", "ERROR": "#57606a"}


def _bar_label(verdict, window_us):
    if verdict == "FAIL":
        return f"{window_us or 0:,} µs"
    return "no leak" if verdict == "PASS" else f"{verdict}: not proven"


def worst_window_chart(doc):
    """The worst exposure window of each scenario of a build, one bar per scenario.

    Parameters
    ----------
    doc : dict
        A summary.json document.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when the build has no scenario.  A FAIL's bar is its widest window; a
        PASS has no bar and says "no leak"; INCONCLUSIVE and ERROR have no bar and say
        "not proven" (drawn as 0 they would read as "no leak").
    """
    scenarios = doc.get("scenarios") or []
    if not scenarios:
        return None
    verdicts = [s["verdict"] for s in scenarios]
    windows = [worst_window_us(s.get("analysis")) if v == "FAIL" else None
               for s, v in zip(scenarios, verdicts)]
    fig = Figure(figsize=(9, 0.9 + 0.3 * len(scenarios)), layout="constrained")
    ax = fig.add_subplot()
    ys = range(len(scenarios))
    ax.barh(ys, [w or 0 for w in windows], color=[VERDICT_COLORS.get(v, "#57606a") for v in verdicts],
            height=0.6)
    for y, verdict, window in zip(ys, verdicts, windows):
        ax.annotate(_text(_bar_label(verdict, window)), (window or 0, y), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize=8,
                    color=VERDICT_COLORS.get(verdict, "#57606a"))
    ax.set_yticks(list(ys), [_text(s["name"]) for s in scenarios])
    ax.invert_yaxis()
    ax.set_xlim(0, max([w or 0 for w in windows] + [1]) * 1.25)  # room for the last label
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_xlabel("worst exposure window of the scenario, µs")
    ax.grid(axis="x", color="#eaeef2", linewidth=0.8)
    ax.set_axisbelow(True)
    return fig


TREND_MARKERS = ("o", "s", "^", "D", "v")  # the colour cycle has 10 colours: change marker after


def _trend_value(row):
    """A trend point: the window when it FAILed, 0 when it PASSed, a gap (NaN) otherwise:
    an INCONCLUSIVE or ERROR build proves no figure, so it must not be drawn as 0."""
    verdict = row.get("verdict")
    if verdict in ("INCONCLUSIVE", "ERROR"):
        return float("nan")
    return row["window_us"] or 0


def window_trend(rows):
    """Worst exposure window of each scenario across builds.

    Parameters
    ----------
    rows : list of dict
        build, scenario, window_us (None when nothing leaked), in build order.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when there is no row.
    """
    if not rows:
        return None
    builds = list(dict.fromkeys(r["build"] for r in rows))
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax = fig.add_subplot()
    for i, scenario in enumerate(sorted({r["scenario"] for r in rows})):
        pts = [(builds.index(r["build"]), _trend_value(r)) for r in rows if r["scenario"] == scenario]
        xs, ys = zip(*pts)
        ax.plot(xs, ys, "-", marker=TREND_MARKERS[(i // 10) % len(TREND_MARKERS)],
                label=_text(scenario), markersize=4)
    ax.set_xticks(range(len(builds)), [_text(b) for b in builds], rotation=20, ha="right")
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_ylabel("worst exposure window, µs\n(0 = no leak; gap = not proven)")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def timeline_for(analysis, doc=None):
    """`timeline` of an `Analysis` (its packets, events, episodes and capture names)."""
    doc = doc if doc is not None else analysis.to_dict()
    return timeline(analysis.packets, analysis.events, doc["episodes"],
                    capture_names=[c["file"] for c in doc.get("captures") or []])


MAX_ZOOMS = 12


def zoom_selection(episodes, max_figures=MAX_ZOOMS):
    """The episodes worth a zoom when there are too many: leaking ones by widest window
    first, then the rest, at most `max_figures`, returned in episode order."""
    eligible = [ep for ep in episodes if ep.get("start_ns") is not None]
    ranked = sorted(eligible, key=lambda ep: (not ep.get("leaked_frames"),
                                              -int(ep.get("window_us") or 0), ep.get("id", 0)))
    chosen = {id(ep) for ep in ranked[:max_figures]}
    return [ep for ep in eligible if id(ep) in chosen]


def episode_zooms_for(analysis, doc=None, margin_us=2000, max_figures=MAX_ZOOMS):
    """`episode_zoom` for the episodes of an `Analysis` chosen by `zoom_selection`.

    Parameters
    ----------
    analysis : ksaudit.leaks.Analysis
    doc : dict, optional
        ``analysis.to_dict()`` if already made.
    margin_us : int
        Context before and after each edge, µs.
    max_figures : int
        At most this many figures (a 100-trial scenario would otherwise take a minute).

    Returns
    -------
    list of matplotlib.figure.Figure
        In episode order.
    """
    doc = doc if doc is not None else analysis.to_dict()
    names = [c["file"] for c in doc.get("captures") or []]
    return [episode_zoom(analysis.packets, analysis.events, ep, margin_us, names)
            for ep in zoom_selection(doc["episodes"], max_figures)]
