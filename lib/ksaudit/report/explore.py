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
    lo, hi = window(exploration.packets if not len(packets) else packets, exploration.origin_ns,
                    start_us, end_us)
    return _zoom_ns(exploration, packets, exploration.events, lo, hi)


def _zoom_ns(exploration, packets, events, lo, hi):
    """The zoom figure between two absolute ns times (no -1 sentinels)."""
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


# ---------------------------------------------------------------------------
# The interactive explorer (JupyterLab): filter, lanes and a µs window, redrawn on change.

MAX_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Explorer:
    """The widgets `explorer` builds; display it (or ``.box``) in a notebook.

    ``query`` (Text), ``window_us`` (IntRangeSlider, µs from the origin; its readout
    takes typed values), ``lanes`` (SelectMultiple), ``zoom_in`` / ``zoom_out`` /
    ``reset`` (Buttons) drive ``refresh()``, which redraws ``plot`` and ``rows``
    (Outputs) and writes one line to ``message`` (HTML): the window, or what is
    wrong with the filter.
    """
    exploration: Exploration
    packets: object
    query: object
    window_us: object
    lanes: object
    zoom_in: object
    zoom_out: object
    reset: object
    message: object
    plot: object
    rows: object
    box: object
    max_rows: int
    packet_lanes: object
    event_lanes: object

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.box._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = (f"ksaudit explorer of {self.exploration.source} "
                                "(interactive in JupyterLab; the static views above show the same data)")
        return bundle

    def refresh(self, _change=None):
        """Redraw the zoom figure and the frame rows for the widgets' current values."""
        from ksaudit.report.html import esc

        ex = self.exploration
        lo_us, hi_us = self.window_us.value
        hi_us = max(hi_us, lo_us + 1)  # a zero-width window still shows 1 µs
        lo, hi = ex.origin_ns + lo_us * 1000, ex.origin_ns + hi_us * 1000
        chosen = list(self.lanes.value)
        packets = self.packets
        if self.packet_lanes is not None:
            packets = packets[self.packet_lanes.isin(chosen).to_numpy()]
        events = ex.events
        if self.event_lanes is not None:
            events = events[self.event_lanes.isin(chosen).to_numpy()]
        try:
            packets = filter_packets(packets, self.query.value.strip())
        except KsauditError as exc:
            self.plot.outputs, self.rows.outputs = (), ()
            self.message.value = f'<span class="ks-error" style="color:#d1242f">{esc(_one_line(exc))}</span>'
            return
        ts = packets["ts_ns"].to_numpy(np.int64)
        shown = packets[(ts >= lo) & (ts <= hi)]
        self.plot.outputs = (_figure_output(_zoom_ns(ex, packets, events, lo, hi),
                                            f"zoom {lo_us:,} to {hi_us:,} µs"),)
        self.rows.outputs = (_html_output(packet_rows(shown, ex.origin_ns, ex.capture_names,
                                                      self.max_rows)),)
        self.message.value = esc(f"{lo_us:,} to {hi_us:,} µs from the origin ({hi_us - lo_us:,} µs "
                                 f"wide, from {utc(lo)}): {len(shown):,} of {len(packets):,} "
                                 "matching frames in the window")

    def _zoom_by(self, factor):
        lo, hi = self.window_us.value
        width = min(max(int((hi - lo) * factor), 1), self.window_us.max - self.window_us.min)
        start = min(max((lo + hi) // 2 - width // 2, self.window_us.min), self.window_us.max - width)
        self.window_us.value = (start, start + width)


def _one_line(exc):
    text = " ".join(str(exc).split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS - 1] + "…"


def _figure_output(fig, label):
    """An Output entry holding `fig` as PNG (no Software stamp: same figure, same bytes)."""
    import base64
    import io

    from ksaudit.report.notebook import FIGURE_DPI

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIGURE_DPI, bbox_inches="tight", metadata={"Software": None})
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"),
                     "text/plain": f"<Figure: {label}>"}}


def _html_output(html):
    return {"output_type": "display_data", "metadata": {},
            "data": {"text/html": str(html), "text/plain": "frames in the window (HTML table)"}}


def _bounds_us(exploration, packets):
    """Slider bounds: µs from the origin of the first and last frame or log event."""
    ts = [packets["ts_ns"].to_numpy(np.int64)]
    if exploration.events is not None and len(exploration.events):
        ts.append(exploration.events["ts_ns"].to_numpy(np.int64))
    ts = np.concatenate(ts)
    if not len(ts):
        return 0, 1
    lo = (int(ts.min()) - exploration.origin_ns) // 1000
    hi = -((exploration.origin_ns - int(ts.max())) // 1000)
    return lo, max(hi, lo + 1)


def explorer(exploration, packets=None, query="", start_us=-1, end_us=-1, max_rows=50):
    """Interactive filter and zoom: a pandas query box, a µs window slider, a lane selector.

    Every change redraws the zoom figure and the frame rows into ``ipywidgets.Output``
    widgets; a filter that does not parse is one line in the message, never a traceback.

    Parameters
    ----------
    exploration : Exploration
        What `load` returned (its events, episodes, capture names and origin are used).
    packets : pandas.DataFrame, optional
        The packet table to explore; default ``exploration.packets``.
    query : str
        Initial pandas query ("" = every frame); the analyst edits it in the text box.
    start_us, end_us : int
        Initial window in µs from ``exploration.origin_ns``; -1 = the first / last
        frame or log event.
    max_rows : int
        Most frames listed under the figure.

    Returns
    -------
    Explorer
        Display it in a notebook; its widgets can also be set from code.
    """
    import ipywidgets as w

    from ksaudit.report import plots

    packets = exploration.packets if packets is None else packets
    for name, value in (("start_us", start_us), ("end_us", end_us), ("max_rows", max_rows)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise KsauditError(f"explorer {name}: expected an integer, got {value!r}")
    if max_rows < 1:
        raise KsauditError(f"explorer max_rows: expected a positive integer, got {max_rows}")
    if start_us != -1 and end_us != -1 and end_us < start_us:
        raise KsauditError(f"explorer window: end {end_us} µs is before start {start_us} µs")
    lo, hi = _bounds_us(exploration, packets)
    value = (lo if start_us == -1 else min(max(start_us, lo), hi),
             hi if end_us == -1 else min(max(end_us, lo), hi))
    lanes, packet_lanes, event_lanes = plots._lanes(packets, exploration.events,
                                                    exploration.capture_names)
    layout = w.Layout(width="95%")
    ui = Explorer(
        exploration, packets,
        query=w.Text(value=query, description="filter", continuous_update=False, layout=layout,
                     placeholder="pandas query, e.g. rule == 'leak' and dport == 53 (Enter applies)"),
        window_us=w.IntRangeSlider(value=value, min=lo, max=hi, step=1, description="window µs",
                                   continuous_update=False, layout=layout),
        lanes=w.SelectMultiple(options=lanes, value=tuple(lanes), description="lanes",
                               rows=min(max(len(lanes), 2), 8), layout=w.Layout(width="60%")),
        zoom_in=w.Button(description="zoom in ×10"), zoom_out=w.Button(description="zoom out ×10"),
        reset=w.Button(description="whole capture"), message=w.HTML(),
        plot=w.Output(), rows=w.Output(), box=None, max_rows=max_rows,
        packet_lanes=packet_lanes, event_lanes=event_lanes)
    box = w.VBox([ui.query, ui.window_us, w.HBox([ui.zoom_in, ui.zoom_out, ui.reset]),
                  ui.lanes, ui.message, ui.plot, ui.rows])
    object.__setattr__(ui, "box", box)  # the box holds the widgets made just above
    for widget in (ui.query, ui.window_us, ui.lanes):
        widget.observe(ui.refresh, names="value")
    ui.zoom_in.on_click(lambda _b: ui._zoom_by(0.1))
    ui.zoom_out.on_click(lambda _b: ui._zoom_by(10))
    ui.reset.on_click(lambda _b: setattr(ui.window_us, "value", (ui.window_us.min, ui.window_us.max)))
    ui.refresh()
    return ui
