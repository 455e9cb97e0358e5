"""The interactive explorer of notebooks/explore_capture.ipynb (JupyterLab, ipywidgets):
a Wireshark-style filter, a µs window with a readout that takes typed figures, zoom
anchored on a tunnel-down, a restore or an episode, lanes, and a frame picker that
shows the chosen frame's dissection.  Every change redraws into Output widgets; a
bad entry is one line in the message, never a traceback."""

import base64
import io
from dataclasses import dataclass

import numpy as np

from ksaudit.errors import KsauditError
from ksaudit.report import explore, wsfilter
from ksaudit.report.html import Html, esc
from ksaudit.report.views import PROTOCOLS, utc

MAX_MESSAGE_CHARS = 600
CENTRE = "window centre"
NO_FRAME = "choose a frame to dissect"
EXPLORER_CLASS = "ks-explorer"
# Shown under the explorer; hidden while the widget is live (the rule needs the
# explorer's class in the output before it).  After a kernel restart JupyterLab
# draws "Error displaying widget: model not found" in the widget's place and, having
# no other renderer for it, never falls back to the text in the widget's bundle.
RERUN_CSS = (f".jp-OutputArea-child:has(.{EXPLORER_CLASS}) ~ .jp-OutputArea-child .ks-rerun "
             "{ display: none; }")
RERUN_TEXT = ("The interactive explorer needs this notebook's kernel. If JupyterLab shows "
              "\u201cError displaying widget: model not found\u201d (or nothing) above, the "
              "kernel restarted or the notebook was reopened: re-run this cell.")


@dataclass(frozen=True)
class Explorer:
    """The widgets `explorer` builds; display it (or ``.box``) in a notebook.

    ``query`` (Text, a Wireshark-style filter or a pandas query), ``window_us``
    (IntRangeSlider, µs from the origin) and its ``readout`` (Text: "−1,234 – 5,678",
    typed figures welcome), ``anchor`` (Dropdown: window centre, or an episode's
    tunnel-down, restore or whole span), ``zoom_in`` / ``zoom_out`` / ``reset``
    (Buttons), ``lanes`` (SelectMultiple) drive ``refresh()``, which redraws ``plot``
    and ``rows`` (Outputs), refills ``frame`` (Dropdown of the listed frames) and
    writes one line to ``message`` (HTML).  Choosing a ``frame`` shows its dissection
    in ``inspected`` (Output).
    """
    exploration: object
    packets: object
    query: object
    names: object
    window_us: object
    readout: object
    anchor: object
    lanes: object
    zoom_in: object
    zoom_out: object
    reset: object
    message: object
    plot: object
    rows: object
    frame: object
    inspected: object
    box: object
    max_rows: int
    packet_lanes: object
    event_lanes: object

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.box._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = (f"ksaudit explorer of {self.exploration.source} "
                                "(interactive in JupyterLab; the static views above show the same data)")
        return bundle

    def _ipython_display_(self):
        """The widget, then a note that only shows when the widget cannot (see RERUN_CSS)."""
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)
        display(rerun_note())

    def refresh(self, _change=None):
        """Redraw the zoom figure, the frame rows and the frame picker for the widgets' values."""
        ex = self.exploration
        lo_us, hi_us = self.window_us.value
        hi_us = max(hi_us, lo_us + 1)  # a zero-width window still shows 1 µs
        lo, hi = ex.origin_ns + lo_us * 1000, ex.origin_ns + hi_us * 1000
        packets, events = self._chosen_lanes()
        try:
            packets = explore.filter_packets(packets, self.query.value)
        except KsauditError as exc:
            self.plot.outputs, self.rows.outputs = (), ()
            self._pick_frames(packets.iloc[:0])
            self._say_error(exc)
            return
        ts = packets["ts_ns"].to_numpy(np.int64)
        shown = packets[(ts >= lo) & (ts <= hi)]
        self.plot.outputs = (_figure_output(explore._zoom_ns(ex, packets, events, lo, hi),
                                            f"zoom {lo_us:,} to {hi_us:,} µs"),)
        self.rows.outputs = (_html_output(explore.packet_rows(shown, ex.origin_ns,
                                                              ex.capture_names, self.max_rows)),)
        self._pick_frames(shown.head(self.max_rows))
        self.message.value = esc(f"{lo_us:,} to {hi_us:,} µs from the origin ({hi_us - lo_us:,} µs "
                                 f"wide, from {utc(lo)}): {len(shown):,} of {len(packets):,} "
                                 "matching frames in the window")

    def _chosen_lanes(self):
        chosen = list(self.lanes.value)
        packets, events = self.packets, self.exploration.events
        if self.packet_lanes is not None:
            packets = packets[self.packet_lanes.isin(chosen).to_numpy()]
        if self.event_lanes is not None:
            events = events[self.event_lanes.isin(chosen).to_numpy()]
        return packets, events

    def _say_error(self, exc):
        text = " ".join(str(exc).split())
        if len(text) > MAX_MESSAGE_CHARS:
            text = text[:MAX_MESSAGE_CHARS - 1] + "…"
        self.message.value = f'<span class="ks-error" style="color:#d1242f">{esc(text)}</span>'

    # ---------------------------------------------------------------- the window

    def show_window(self, _change=None):
        """The slider moved: write its value to the readout, then redraw."""
        self.readout.value = explore.format_window_us(*self.window_us.value)
        self.refresh()

    def read_readout(self, _change=None):
        """The analyst typed in the readout: move the slider there, or say what is wrong."""
        try:
            start, end = explore.parse_window_us(self.readout.value)
        except KsauditError as exc:
            self._say_error(exc)
            return
        if end is None:
            lo, hi = self.window_us.value
            self._centre_on(start, hi - lo)
        else:
            self._set_window(int(np.floor(start)), int(np.ceil(end)))

    def _set_window(self, lo, hi):
        """Move the slider to [lo, hi] µs inside its bounds; the readout follows it."""
        lo = min(max(lo, self.window_us.min), self.window_us.max)
        hi = min(max(hi, lo), self.window_us.max)
        if (lo, hi) == tuple(self.window_us.value):
            self.readout.value = explore.format_window_us(lo, hi)  # e.g. "1,000.0" -> "1,000"
        self.window_us.value = (lo, hi)

    def _centre_on(self, centre_us, width_us):
        width = min(max(int(width_us), 1), self.window_us.max - self.window_us.min)
        start = int(np.floor(centre_us)) - width // 2
        start = min(max(start, self.window_us.min), self.window_us.max - width)
        self._set_window(start, start + width)

    def _anchor_us(self):
        """The zoom's fixed point in µs: the anchor's centre, else the window's."""
        if self.anchor.value == CENTRE:
            lo, hi = self.window_us.value
            return (lo + hi) / 2
        _, lo_ns, hi_ns = self.anchor.value
        return ((lo_ns + hi_ns) / 2 - self.exploration.origin_ns) / 1000

    def go_to_anchor(self, _change=None):
        """A new anchor: centre the window on a point, or span an episode (10 % margin)."""
        if self.anchor.value == CENTRE:
            return
        _, lo_ns, hi_ns = self.anchor.value
        lo, hi = self.window_us.value
        if lo_ns == hi_ns:
            self._centre_on(self._anchor_us(), hi - lo)
        else:
            span = (hi_ns - lo_ns) / 1000
            self._centre_on(self._anchor_us(), span * 1.2 + 1)

    def zoom_by(self, factor):
        """Narrow (factor < 1) or widen the window around the anchor, never below 1 µs."""
        lo, hi = self.window_us.value
        self._centre_on(self._anchor_us(), (hi - lo) * factor)

    # ---------------------------------------------------------------- inspect

    def _pick_frames(self, shown):
        options = [(NO_FRAME, None)] + [(_frame_label(r, self.exploration), (r.capture, r.frame))
                                        for r in _frame_rows(shown)]
        if options == list(self.frame.options):
            return
        keep = self.frame.value if any(v == self.frame.value for _, v in options) else None
        self.frame.options = options
        self.frame.value = keep

    def show_frame(self, _change=None):
        """Dissect the chosen frame into ``inspected`` (nothing when none is chosen)."""
        if self.frame.value is None:
            self.inspected.outputs = ()
            return
        capture, frame = self.frame.value
        try:
            html = explore.inspect(self.exploration, capture, frame)
        except KsauditError as exc:
            self.inspected.outputs = ()
            self._say_error(exc)
            return
        self.inspected.outputs = (_html_output(html, "dissection of the chosen frame"),)


def _frame_rows(shown):
    cols = ["capture", "frame", "ts_ns", "iface", "src", "dst", "proto", "sport", "dport"]
    table = shown.assign(capture=shown["capture"] if "capture" in shown else 0)
    return table[[c for c in cols if c in table.columns]].itertuples(index=False)


def _frame_label(r, exploration):
    name = explore.capture_name(exploration, r.capture)
    proto = PROTOCOLS.get(int(r.proto), f"proto {r.proto}")
    ports = "" if int(r.sport) == -1 else f" {r.sport} → {r.dport}"
    return (f"{name} #{r.frame} {(int(r.ts_ns) - exploration.origin_ns) / 1000:,.3f} µs "
            f"{r.iface} {r.src} → {r.dst} {proto}{ports}")


def rerun_note():
    """The "re-run this cell" note shown under the explorer when the widget is not live."""
    return Html(f'<style>{RERUN_CSS}</style><p class="ks-note ks-rerun">{esc(RERUN_TEXT)}</p>')


def names_help(packets):
    """The fields, columns and rule names the filter knows, for beside the filter box."""
    fields, columns, rules = wsfilter.known_names(packets)
    parts = [("Wireshark fields", fields), ("columns", columns), ("rules", rules)]
    return "".join(f"<div><b>{esc(k)}</b>: {esc(' '.join(v))}</div>" for k, v in parts)


def _figure_output(fig, label):
    """An Output entry holding `fig` as PNG (no Software stamp: same figure, same bytes)."""
    from ksaudit.report.notebook import FIGURE_DPI

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIGURE_DPI, bbox_inches="tight", metadata={"Software": None})
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"),
                     "text/plain": f"<Figure: {label}>"}}


def _html_output(html, text="frames in the window (HTML table)"):
    return {"output_type": "display_data", "metadata": {},
            "data": {"text/html": html._repr_html_(), "text/plain": text}}


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


def _check_arguments(start_us, end_us, max_rows):
    for name, value in (("start_us", start_us), ("end_us", end_us)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise KsauditError(f"explorer {name}: expected an integer or None, got {value!r}")
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise KsauditError(f"explorer max_rows: expected a positive integer, got {max_rows!r}")
    if start_us is not None and end_us is not None and end_us < start_us:
        raise KsauditError(f"explorer window: end {end_us} µs is before start {start_us} µs")


def explorer(exploration, packets=None, query="", start_us=None, end_us=None, max_rows=50):
    """Interactive filter, zoom and inspect: the widgets of `Explorer`, drawn once.

    Parameters
    ----------
    exploration : Exploration
        What `ksaudit.report.explore.load` returned (its events, episodes, capture
        names and files, and origin are used).
    packets : pandas.DataFrame, optional
        The packet table to explore; default ``exploration.packets``.
    query : str
        Initial filter (Wireshark-style, else a pandas query; "" = every frame).
    start_us, end_us : int or None
        Initial window in µs from ``exploration.origin_ns``; None = the first / last
        frame or log event.
    max_rows : int
        Most frames listed under the figure (and offered to the frame picker).

    Returns
    -------
    Explorer
        Display it in a notebook; its widgets can also be set from code.
    """
    import ipywidgets as w

    from ksaudit.report import plots

    packets = exploration.packets if packets is None else packets
    _check_arguments(start_us, end_us, max_rows)
    lo, hi = _bounds_us(exploration, packets)
    value = (lo if start_us is None else min(max(start_us, lo), hi),
             hi if end_us is None else min(max(end_us, lo), hi))
    lanes, packet_lanes, event_lanes = plots._lanes(packets, exploration.events,
                                                    exploration.capture_names)
    wide = w.Layout(width="95%")
    ui = Explorer(
        exploration, packets,
        query=w.Text(value=query, description="filter", continuous_update=False,
                     layout=w.Layout(width="60%"),
                     placeholder="e.g. ip.dst == 203.0.113.80 && udp.port == 53, leak and not "
                                 "dns, episode == 1 (Enter applies)"),
        names=w.HTML(names_help(packets), layout=w.Layout(width="38%")),
        window_us=w.IntRangeSlider(value=value, min=lo, max=hi, step=1, description="window µs",
                                   continuous_update=False, readout=False, layout=wide),
        readout=w.Text(value=explore.format_window_us(*value), description="µs",
                       continuous_update=False, layout=w.Layout(width="40%")),
        anchor=w.Dropdown(options=[(CENTRE, CENTRE)] + [(a[0], a) for a in
                                                         explore.anchors(exploration)],
                          value=CENTRE, description="anchor"),
        lanes=w.SelectMultiple(options=lanes, value=tuple(lanes), description="lanes",
                               rows=min(max(len(lanes), 2), 8), layout=w.Layout(width="60%")),
        zoom_in=w.Button(description="zoom in ×10"), zoom_out=w.Button(description="zoom out ×10"),
        reset=w.Button(description="whole capture"), message=w.HTML(),
        plot=w.Output(), rows=w.Output(),
        frame=w.Dropdown(options=[(NO_FRAME, None)], value=None, description="inspect",
                         layout=wide),
        inspected=w.Output(), box=None, max_rows=max_rows,
        packet_lanes=packet_lanes, event_lanes=event_lanes)
    box = w.VBox([w.HBox([ui.query, ui.names]), ui.window_us,
                  w.HBox([ui.readout, ui.anchor]), w.HBox([ui.zoom_in, ui.zoom_out, ui.reset]),
                  ui.lanes, ui.message, ui.plot, ui.rows, ui.frame, ui.inspected])
    box.add_class(EXPLORER_CLASS)
    object.__setattr__(ui, "box", box)  # the box holds the widgets made just above
    ui.query.observe(ui.refresh, names="value")
    ui.lanes.observe(ui.refresh, names="value")
    ui.window_us.observe(ui.show_window, names="value")
    ui.readout.observe(ui.read_readout, names="value")
    ui.anchor.observe(ui.go_to_anchor, names="value")
    ui.frame.observe(ui.show_frame, names="value")
    ui.zoom_in.on_click(lambda _b: ui.zoom_by(0.1))
    ui.zoom_out.on_click(lambda _b: ui.zoom_by(10))
    ui.reset.on_click(lambda _b: ui._set_window(ui.window_us.min, ui.window_us.max))
    ui.refresh()
    return ui
