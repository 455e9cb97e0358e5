"""Helpers for notebooks/explore_capture.ipynb: load a scenario or a bare capture,
filter its packet table (Wireshark words, else a pandas query), zoom to any window
down to microseconds, and dissect a chosen frame.  The widgets are in
ksaudit.report.widgets."""

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ksaudit.errors import KsauditError
from ksaudit.report import wsfilter
from ksaudit.report.html import Html, facts, num, table
from ksaudit.report.views import utc

SHOWN_COLUMNS = ["capture", "frame", "ts_ns", "iface", "direction", "src", "dst", "proto",
                 "sport", "dport", "length", "rule", "category", "episode"]


@dataclass(frozen=True)
class Exploration:
    """What was loaded: the tables, the episodes (if a scenario) and the time origin.

    ``capture_paths[i]`` is the file of capture ``i`` (the ``capture`` column), for
    dissecting a frame; ``capture_names`` their names as the analysis gives them.
    """
    source: str
    packets: object
    events: object
    episodes: list
    capture_names: list
    origin_ns: int
    doc: dict | None
    capture_paths: list


def load(path):
    """Load a scenario directory (analysed) or a bare capture file (read only).

    Parameters
    ----------
    path : str or Path
        A directory with scenario.yaml, or a .pcap / .pcapng file.

    Returns
    -------
    Exploration
        ``origin_ns`` is the first tunnel-down (scenario) or the first frame.
    """
    import ksaudit

    path = Path(path)
    if path.is_dir():
        analysis = ksaudit.analyze(path)
        doc = analysis.to_dict()
        packets, events, episodes = analysis.packets, analysis.events, doc["episodes"]
        names = [c["file"] for c in doc["captures"]]
        paths = [path / name for name in names]
    elif path.is_file():
        packets, events, episodes, names, doc = ksaudit.read_packets(path), None, [], None, None
        paths = [path]
    else:
        raise KsauditError(f"{path}: no such scenario directory or capture file")
    starts = [ep["start_ns"] for ep in episodes if ep.get("start_ns") is not None]
    if starts:
        origin = int(min(starts))
    elif len(packets):
        origin = int(packets["ts_ns"].min())
    else:
        origin = 0
    return Exploration(str(path), packets, events, episodes, names, origin, doc, paths)


def filter_packets(packets, query):
    """Rows of `packets` matching `query` ("" = all).

    `query` is a Wireshark-style display filter (ksaudit.report.wsfilter, e.g.
    ``ip.dst == 203.0.113.80 && udp.port == 53``, ``leak and not dns``); text that
    language cannot read is tried as a pandas query (``dport in [53, 853]``).

    Raises KsauditError naming the query, with the filter's own hint (the position,
    what to write instead) and what pandas said, when neither reads it.
    """
    if not query.strip():
        return packets
    try:
        return packets[wsfilter.mask(query, packets)]
    except wsfilter.FilterError as exc:
        ours = exc
    try:
        return packets.query(query, engine="python")
    except Exception as exc:  # noqa: BLE001 - any query error is the analyst's input
        theirs = f"{type(exc).__name__}: {exc}"
    raise KsauditError(f"filter {query!r}: {ours} (nor a pandas query: {theirs})") from None


def window(packets, origin_ns, start_us=None, end_us=None):
    """(lo_ns, hi_ns) for µs offsets from the origin; None for either end = that end of
    the table (the origin when the table is empty)."""
    ts = packets["ts_ns"].to_numpy(np.int64)
    first, last = (int(ts.min()), int(ts.max())) if len(ts) else (origin_ns, origin_ns)
    lo = first if start_us is None else origin_ns + int(start_us) * 1000
    hi = last if end_us is None else origin_ns + int(end_us) * 1000
    if hi < lo:
        raise KsauditError(f"zoom window: end {end_us} µs is before start {start_us} µs")
    return lo, hi


# A µs figure as the readout shows it: Unicode or ASCII minus, thousands grouped by
# commas, spaces (also no-break and thin), underscores or apostrophes, a decimal point.
_US_NUMBER = r"[-+\u2212]?\d{1,3}(?:[,_'\u00a0\u2009\u202f ]\d{3})+(?:\.\d+)?|[-+\u2212]?\d+(?:\.\d+)?"
_US_WINDOW = re.compile(rf"\s*({_US_NUMBER})\s*(?:(?:[\u2013\u2014]|\.\.|to|-)\s*({_US_NUMBER}))?"
                        r"\s*(?:µs|us|\u03bcs)?\s*$", re.I)


def parse_window_us(text):
    """Read a µs window as the explorer's readout writes it (`format_window_us`).

    "−1,234.5 – 5,678", "1 234–5 678", "-100 to 250" give (start, end); one figure
    ("12 345") gives (figure, None): the caller keeps the width and moves there.
    Figures are floats (µs, with the ns digits typed).

    Raises KsauditError saying what it could not read and what it reads.
    """
    m = _US_WINDOW.match(text or "")
    if m is None:
        raise KsauditError(f"window µs: cannot read {text!r}; type µs from the origin as "
                           "shown, e.g. −1,234.5 – 5,678 or one figure to move there")
    start, end = (None if g is None else float(re.sub(r"[,_'\u00a0\u2009\u202f ]", "",
                                                      g.replace("\u2212", "-")))
                  for g in m.groups())
    if end is not None and end < start:
        raise KsauditError(f"window µs: {text!r}: the end is before the start")
    return start, end


def format_window_us(start_us, end_us):
    """ "−1,234 – 5,678": the readout text, with the Unicode minus and an en dash."""
    return f"{start_us:,} – {end_us:,}".replace("-", "\u2212")


def anchors(exploration):
    """Where the zoom can anchor: (label, lo_ns, hi_ns) for each episode's tunnel-down,
    its restore (when the tunnel came back) and the whole episode, in episode order.

    A point anchor has lo_ns == hi_ns; the zoom keeps its width and centres there.
    """
    found = []
    for ep in exploration.episodes:
        start, end = ep.get("start_ns"), ep.get("end_ns")
        if start is None:
            continue
        found.append((f"episode {ep['id']}: tunnel down", start, start))
        if end is not None:
            found.append((f"episode {ep['id']}: restore", end, end))
            found.append((f"episode {ep['id']}: whole episode", start, end))
    return found


def frame_path(exploration, capture):
    """The capture file holding the frames of capture index `capture`."""
    paths = exploration.capture_paths
    if not 0 <= int(capture) < len(paths):
        raise KsauditError(f"inspect: no capture {capture} (the table has {len(paths)})")
    return paths[int(capture)]


def capture_name(exploration, capture):
    """The name of capture index `capture`: as the analysis gives it, else the file's."""
    if exploration.capture_names:
        return exploration.capture_names[int(capture)]
    return Path(frame_path(exploration, capture)).name


def inspect(exploration, capture, frame, tshark="tshark"):
    """The dissection of one frame (ksaudit.dissect) as an escaped definition list.

    Parameters
    ----------
    exploration : Exploration
    capture : int
        The frame's ``capture`` index in the packet table (0 for a bare capture).
    frame : int
        Its ``frame`` number (1-based, as Wireshark numbers it).
    tshark : str or None
        Passed to ksaudit.dissect (None = scapy only).

    Returns
    -------
    Html
    """
    from ksaudit.pcap.dissect import dissect

    path = frame_path(exploration, capture)
    row = dissect(path, [int(frame)], tshark=tshark).iloc[0]
    name = capture_name(exploration, capture)
    labels = [("summary", "Summary"), ("dns_query", "DNS query"), ("dns_answers", "DNS answers"),
              ("tls_sni", "TLS SNI"), ("http_host", "HTTP Host"), ("quic_sni", "QUIC SNI")]
    pairs = [("Frame", f"{name} #{int(row['frame'])}")]
    pairs += [(label, row[key]) for key, label in labels if row[key]]
    pairs += [("Cut by the snap length", "yes" if row["truncated"] else "no"),
              ("Dissected by", row["tool"])]
    return facts(pairs)


def packet_rows(packets, origin_ns, capture_names=None, max_rows=50):
    """The first `max_rows` packets as an escaped table, times also in µs from the origin."""
    cols = [c for c in SHOWN_COLUMNS if c in packets.columns]
    rows = []
    for r in packets.head(max_rows)[cols].itertuples(index=False):
        d = r._asdict()
        if capture_names and "capture" in d:
            d["capture"] = capture_names[int(d["capture"])]
        d["µs from origin"] = f"{(int(d['ts_ns']) - origin_ns) / 1000:,.3f}"
        d["ts_ns"] = utc(d["ts_ns"])
        rows.append(list(d.values()))
    header = [("time (UTC)" if c == "ts_ns" else c) for c in cols] + ["µs from origin"]
    note = (f'<p class="ks-note">{num(min(max_rows, len(packets)))} of {num(len(packets))} '
            "matching frames shown</p>")
    return Html(table(header, rows, numeric=["frame", "µs from origin"], empty="no frame matches")
                + note)


def in_window(packets, origin_ns, start_us=None, end_us=None):
    """The rows of `packets` inside a zoom window (µs from the origin; None = open end)."""
    if not len(packets):
        return packets
    lo, hi = window(packets, origin_ns, start_us, end_us)
    ts = packets["ts_ns"].to_numpy(np.int64)
    return packets[(ts >= lo) & (ts <= hi)]


def counts(packets, by, capture_names=None):
    """Frame counts per value of the columns `by` (list of names), as a table.

    Parameters
    ----------
    packets : pandas.DataFrame
    by : list of str
        Columns to group by (those missing from the table are skipped).
    capture_names : list of str, optional
        File name of each capture, when ``packets["capture"]`` holds indexes.

    Returns
    -------
    Html
    """
    by = [c for c in by if c in packets.columns]
    if not by or not len(packets):
        return Html('<p class="ks-note">nothing to count</p>')
    grouped = packets.groupby(by, observed=True).size().reset_index(name="frames")
    if capture_names and "capture" in grouped:
        grouped["capture"] = [capture_names[int(c)] for c in grouped["capture"]]
    return table(by + ["frames"], grouped.itertuples(index=False), numeric=["frames"])


def zoom(exploration, packets, start_us=None, end_us=None):
    """Lane plot of `packets` (and the log events) between two µs offsets from the origin.

    Parameters
    ----------
    exploration : Exploration
    packets : pandas.DataFrame
        The (filtered) packet table to draw.
    start_us, end_us : int or None
        Window in µs from ``exploration.origin_ns``; None = the table's first / last frame.

    Returns
    -------
    matplotlib.figure.Figure
    """
    lo, hi = window(exploration.packets if not len(packets) else packets, exploration.origin_ns,
                    start_us, end_us)
    return _zoom_ns(exploration, packets, exploration.events, lo, hi)


def _zoom_ns(exploration, packets, events, lo, hi):
    """The zoom figure between two absolute ns times."""
    from ksaudit.report import plots

    lanes, _, _ = plots._lanes(packets, events, exploration.capture_names)
    fig, ax = plots._figure(len(lanes))
    span_us = (hi - lo) / 1e3
    scale = 1e3 if span_us <= 20_000 else 1e6 if span_us <= 20_000_000 else 1e9
    unit = {1e3: "µs", 1e6: "ms", 1e9: "s"}[scale]
    plots._draw(ax, packets, events, exploration.origin_ns, scale, lo, hi,
                exploration.capture_names)
    for ep in exploration.episodes:
        if ep.get("start_ns") is not None:
            end = ep.get("end_ns") or ep["start_ns"]
            ax.axvspan((ep["start_ns"] - exploration.origin_ns) / scale,
                       (end - exploration.origin_ns) / scale, color=plots.COLORS["episode"],
                       alpha=0.25, lw=0, label="tunnel down (episode)", zorder=1)
    ax.set_xlim((lo - exploration.origin_ns) / scale, (hi - exploration.origin_ns) / scale)
    ax.set_xlabel(f"{unit} from the origin ({utc(exploration.origin_ns)})")
    plots._legend(ax)
    return fig
