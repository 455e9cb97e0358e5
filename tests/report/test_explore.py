"""The interactive explorer (ksaudit.report.widgets.explorer), driven through its
widgets from Python: every change must redraw the Output widgets, and a bad filter
must be one line in the message, never a traceback."""

import base64
import re
from pathlib import Path

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from ksaudit.errors import KsauditError
from ksaudit.report import explore, widgets

SAMPLE = Path(__file__).resolve().parents[2] / "captures" / "samples" / "2026.11.0-lab" / "none-process-kill"
T0_S = 1_795_594_197
N_FRAMES = 20
STEP_US = 100


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """A bare capture: 20 UDP frames 100 µs apart, even ones DNS queries for q<i>.example
    to port 53, odd ones to 443."""
    pkts = []
    for i in range(N_FRAMES):
        p = Ether() / IP(src="192.0.2.10", dst="198.51.100.1") / UDP(sport=40000 + i,
                                                                   dport=53 if i % 2 == 0 else 443)
        if i % 2 == 0:
            p = p / DNS(rd=1, qd=DNSQR(qname=f"q{i}.example"))
        p.time = T0_S + i * STEP_US / 1e6
        pkts.append(p)
    path = tmp_path_factory.mktemp("explore") / "bare.pcap"
    wrpcap(str(path), pkts)
    return explore.load(path)


def _png(ui):
    (out,) = ui.plot.outputs
    data = base64.b64decode(out["data"]["image/png"])
    assert data.startswith(b"\x89PNG")
    return data


def _rows(ui):
    (out,) = ui.rows.outputs
    return out["data"]["text/html"]


def _offsets_us(html):
    return [float(v.replace(",", ""))
            for v in re.findall(r'<td class="num">(-?[\d,]+\.\d{3})</td></tr>', html)]


def test_opens_on_the_whole_capture_and_the_window_slider_zooms(bare):
    ui = widgets.explorer(bare)
    assert (ui.window_us.min, ui.window_us.max) == (0, (N_FRAMES - 1) * STEP_US)
    assert ui.window_us.value == (0, (N_FRAMES - 1) * STEP_US)
    assert f"{N_FRAMES} of {N_FRAMES} matching frames in the window" in ui.message.value
    assert len(_offsets_us(_rows(ui))) == N_FRAMES
    png, rows = _png(ui), _rows(ui)

    ui.window_us.value = (250, 650)
    assert _offsets_us(_rows(ui)) == [300.0, 400.0, 500.0, 600.0]
    assert "250 to 650 µs from the origin (400 µs wide" in ui.message.value
    assert _png(ui) != png and _rows(ui) != rows


def test_filter_text_redraws_and_a_bad_filter_is_one_line(bare):
    ui = widgets.explorer(bare, bare.packets, start_us=0, end_us=900)
    before = _png(ui)
    ui.query.value = "dport == 53"
    assert _offsets_us(_rows(ui)) == [0.0, 200.0, 400.0, 600.0, 800.0]
    assert "5 of 10 matching frames" in ui.message.value
    assert _png(ui) != before

    ui.query.value = "dport == 53 and <script>"
    assert ui.plot.outputs == () and ui.rows.outputs == ()
    msg = ui.message.value
    assert "filter" in msg and "dport == 53 and &lt;script&gt;" in msg and "<script>" not in msg
    assert "\n" not in msg and "Traceback" not in msg and len(msg) < 500

    ui.query.value = "no_such_column > 1"
    assert "no_such_column" in ui.message.value and ui.rows.outputs == ()

    ui.query.value = "dport == 443"  # fixing the text brings the views back
    assert _offsets_us(_rows(ui)) == [100.0, 300.0, 500.0, 700.0, 900.0]


def test_zoom_buttons_narrow_around_the_centre_down_to_one_microsecond(bare):
    ui = widgets.explorer(bare, start_us=0, end_us=1000)
    ui.zoom_in.click()
    assert ui.window_us.value == (450, 550)
    assert _offsets_us(_rows(ui)) == [500.0]
    for _ in range(3):
        ui.zoom_in.click()
    assert ui.window_us.value == (500, 501)  # never narrower than 1 µs
    assert _offsets_us(_rows(ui)) == [500.0] and "(1 µs wide" in ui.message.value
    ui.zoom_out.click()
    assert ui.window_us.value == (495, 505)
    ui.reset.click()
    assert ui.window_us.value == (ui.window_us.min, ui.window_us.max)
    ui.window_us.value = (700, 700)  # a zero-width window still shows its frame
    assert _offsets_us(_rows(ui)) == [700.0]


def test_rejects_bad_arguments_with_one_clear_error(bare):
    with pytest.raises(KsauditError, match="end 10 µs is before start 20 µs"):
        widgets.explorer(bare, start_us=20, end_us=10)
    with pytest.raises(KsauditError, match="max_rows"):
        widgets.explorer(bare, max_rows=0)
    with pytest.raises(KsauditError, match="start_us: expected an integer or None"):
        widgets.explorer(bare, start_us=1.5)


def test_displays_as_a_widget_with_a_short_text_fallback(bare):
    bundle = widgets.explorer(bare)._repr_mimebundle_()
    assert "model_id" in bundle["application/vnd.jupyter.widget-view+json"]
    assert bundle["text/plain"].startswith("ksaudit explorer of ") and len(bundle["text/plain"]) < 300


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="the lab's sample build is not in captures/samples")
def test_lane_selector_keeps_only_the_chosen_capture_interfaces():
    loaded = explore.load(SAMPLE)
    ui = widgets.explorer(loaded, loaded.packets, "leak", -3000, 300_000)
    assert "device.pcap wlan0" in ui.lanes.options and "external.pcap #0" in ui.lanes.options
    assert any(o.startswith("log ") for o in ui.lanes.options)
    assert "<td>external.pcap</td>" in _rows(ui) and "<td>device.pcap</td>" in _rows(ui)
    all_lanes_png = _png(ui)
    ui.lanes.value = ("device.pcap wlan0",)
    rows = _rows(ui)
    assert "<td>device.pcap</td>" in rows and "<td>wlan0</td>" in rows and "external.pcap" not in rows
    assert all(-3000 <= v <= 300_000 for v in _offsets_us(rows))
    assert _png(ui) != all_lanes_png
    ui.lanes.value = ()
    assert "0 of 0 matching frames" in ui.message.value and "no frame matches" in _rows(ui)


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="the lab's sample build is not in captures/samples")
def test_notebook_ends_with_the_explorer_widget_headless():
    """Headless (papermill) the explorer cell shows a widget view with a text fallback,
    and the stored widget state holds the figure and rows drawn for the parameters."""
    from ksaudit.report import execute
    from ksaudit.report.render import NOTEBOOKS_DIR

    nb = execute.execute_notebook(NOTEBOOKS_DIR / "explore_capture.ipynb",
                                  {"filter_query": "rule == 'leak'", "zoom_start_us": -3000,
                                   "zoom_end_us": 5000})
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 1 and views[0]["data"]["text/plain"].startswith("ksaudit explorer of ")
    (cell,) = [c for c in nb.cells if any(o in views for o in c.get("outputs", []))]
    assert len(cell.outputs) == 2   # the widget, then the note for when it cannot show
    note = cell.outputs[1]["data"]["text/html"]
    assert "re-run this cell" in note and 'class="ks-note ks-rerun"' in note
    assert ":has(.ks-explorer) ~ .jp-OutputArea-child .ks-rerun { display: none; }" in note
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    drawn = [o for m in state.values() if m["model_name"] == "OutputModel"
             for o in m["state"].get("outputs", [])]
    assert any("image/png" in o["data"] for o in drawn)
    assert any("µs from origin" in o["data"].get("text/html", "") for o in drawn)


def test_the_readout_reads_what_it_shows_and_says_when_it_cannot(bare):
    ui = widgets.explorer(bare)
    ui.window_us.value = (250, 650)
    assert ui.readout.value == "250 – 650"
    ui.readout.value = "1 200–1 500"
    assert ui.window_us.value == (1200, 1500) and _offsets_us(_rows(ui)) == [1200.0, 1300.0, 1400.0, 1500.0]
    ui.readout.value = "1,234.5 – 1,300 µs"   # the window covers what was typed
    assert ui.window_us.value == (1234, 1300) and ui.readout.value == "1,234 – 1,300"
    ui.readout.value = "300"                  # one figure: same width, centred there
    assert ui.window_us.value == (267, 333)
    ui.readout.value = "\u2212100 – 250"      # clamped to the capture
    assert ui.window_us.value == (0, 250) and ui.readout.value == "0 – 250"
    for text, says in (("ten to twenty", "window µs: cannot read &#x27;ten to twenty&#x27;"),
                       ("500 – 400", "the end is before the start")):
        ui.readout.value = text
        assert says in ui.message.value and ui.window_us.value == (0, 250)


@pytest.mark.parametrize("text, window", [
    ("\u22121,234.5", (-1234.5, None)), ("12 345", (12345.0, None)),
    ("1 234\u20135 678", (1234.0, 5678.0)), ("\u22121,234 \u2013 \u2212567", (-1234.0, -567.0)),
    ("-100 to 250", (-100.0, 250.0)), ("1\u202f234.125 \u2014 2\u00a0000 µs", (1234.125, 2000.0)),
    ("-5--3", (-5.0, -3.0)), ("7_000..8_000", (7000.0, 8000.0)),
])
def test_parse_window_us_takes_minus_signs_dashes_and_separators(text, window):
    assert explore.parse_window_us(text) == window


@pytest.mark.parametrize("text", ["", "abc", "1,2345", "1 – 2 – 3", "12 34", "1e5"])
def test_parse_window_us_names_what_it_cannot_read(text):
    with pytest.raises(KsauditError, match="window µs: cannot read"):
        explore.parse_window_us(text)


def test_format_and_parse_round_trip():
    for lo, hi in ((-1_234_567, -1), (0, 0), (-5, 12_345_678), (999, 1000)):
        text = explore.format_window_us(lo, hi)
        assert "-" not in text and explore.parse_window_us(text) == (lo, hi)


def test_inspect_dissects_the_chosen_frame(bare):
    ui = widgets.explorer(bare, start_us=0, end_us=300)
    labels = [label for label, _ in ui.frame.options]
    assert labels[0] == widgets.NO_FRAME and len(labels) == 1 + 4
    assert labels[1].startswith("bare.pcap #1 0.000 µs") and "UDP 40000 → 53" in labels[1]
    assert ui.inspected.outputs == ()
    ui.frame.value = ui.frame.options[3][1]          # frame 3: the DNS query for q2.example
    (out,) = ui.inspected.outputs
    html = out["data"]["text/html"]
    assert "<dd>bare.pcap #3</dd>" in html and "<dd>q2.example</dd>" in html
    assert html.startswith('<div class="ks-view"><style>')
    ui.query.value = "udp.port == 443"                # frame 3 leaves the list: nothing shown
    assert ui.frame.value is None and ui.inspected.outputs == ()
    assert all("→ 443" in label for label, _ in ui.frame.options[1:])


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="the lab's sample build is not in captures/samples")
def test_zoom_anchors_on_the_tunnel_down_the_restore_and_an_episode():
    loaded = explore.load(SAMPLE)
    (ep,) = loaded.episodes
    restore_us = (ep["end_ns"] - ep["start_ns"]) / 1000   # the origin is the tunnel-down
    ui = widgets.explorer(loaded, start_us=1000, end_us=3000)
    labels = [label for label, _ in ui.anchor.options]
    assert labels == [widgets.CENTRE, "episode 1: tunnel down", "episode 1: restore",
                      "episode 1: whole episode"]
    ui.anchor.value = ui.anchor.options[1][1]
    assert ui.window_us.value == (-1000, 1000)
    ui.zoom_in.click()
    assert ui.window_us.value == (-100, 100)
    ui.anchor.value = ui.anchor.options[2][1]
    lo, hi = ui.window_us.value
    assert hi - lo == 200 and lo <= restore_us <= hi
    ui.zoom_out.click()
    lo, hi = ui.window_us.value
    assert hi - lo == 2000 and abs((lo + hi) / 2 - restore_us) <= 1
    ui.anchor.value = ui.anchor.options[3][1]
    lo, hi = ui.window_us.value
    assert lo < 0 < restore_us < hi and hi - lo == int(restore_us * 1.2 + 1)
