"""Helpers for notebooks/explore_capture.ipynb: load a scenario or a bare capture,
filter its packet table, and zoom to any window down to microseconds."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ksaudit.errors import KsauditError
from ksaudit.report.html import Html, num, table
from ksaudit.report.views import utc

SHOWN_COLUMNS = ["capture", "frame", "ts_ns", "iface", "direction", "src", "dst", "proto",
                 "sport", "dport", "length", "rule", "category", "episode"]


@dataclass(frozen=True)
class Exploration:
    """What was loaded: the tables, the episodes (if a scenario) and the time origin."""
    source: str
    packets: object
    events: object
    episodes: list
    capture_names: list
    origin_ns: int
    doc: dict | None


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
    elif path.is_file():
        packets, events, episodes, names, doc = ksaudit.read_packets(path), None, [], None, None
    else:
        raise KsauditError(f"{path}: no such scenario directory or capture file")
    starts = [ep["start_ns"] for ep in episodes if ep.get("start_ns") is not None]
    if starts:
        origin = int(min(starts))
    elif len(packets):
        origin = int(packets["ts_ns"].min())
    else:
        origin = 0
    return Exploration(str(path), packets, events, episodes, names, origin, doc)


def filter_packets(packets, query):
    """Rows of `packets` matching a pandas query ("" = all), e.g. ``"dport == 53"``.

    Raises KsauditError naming the query when it does not parse or names no column.
    """
    if not query:
        return packets
    try:
        return packets.query(query, engine="python")
    except Exception as exc:  # noqa: BLE001 - any query error is the analyst's input
        raise KsauditError(f"filter {query!r}: {type(exc).__name__}: {exc}") from None


def window(packets, origin_ns, start_us, end_us):
    """(lo_ns, hi_ns) for µs offsets from the origin; -1 for either end = that end of the table."""
    ts = packets["ts_ns"].to_numpy(np.int64)
    lo = int(ts.min()) if start_us == -1 and len(ts) else origin_ns + int(start_us) * 1000
    hi = int(ts.max()) if end_us == -1 and len(ts) else origin_ns + int(end_us) * 1000
    if hi < lo:
        raise KsauditError(f"zoom window: end {end_us} µs is before start {start_us} µs")
    return lo, hi


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


def in_window(packets, origin_ns, start_us=-1, end_us=-1):
    """The rows of `packets` inside a zoom window (µs from the origin; -1 = open end)."""
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


def zoom(exploration, packets, start_us=-1, end_us=-1):
    """Lane plot of `packets` (and the log events) between two µs offsets from the origin.

    Parameters
    ----------
    exploration : Exploration
    packets : pandas.DataFrame
        The (filtered) packet table to draw.
    start_us, end_us : int
        Window in µs from ``exploration.origin_ns``; -1 = the table's first / last frame.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ksaudit.report import plots

    lo, hi = window(exploration.packets if not len(packets) else packets, exploration.origin_ns,
                    start_us, end_us)
    lanes, _, _ = plots._lanes(packets, exploration.events, exploration.capture_names)
    fig, ax = plots._figure(len(lanes))
    span_us = (hi - lo) / 1e3
    scale = 1e3 if span_us <= 20_000 else 1e6 if span_us <= 20_000_000 else 1e9
    unit = {1e3: "µs", 1e6: "ms", 1e9: "s"}[scale]
    plots._draw(ax, packets, exploration.events, exploration.origin_ns, scale, lo, hi,
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
