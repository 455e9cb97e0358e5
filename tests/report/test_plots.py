"""Figures from small hand-made tables: they draw what they claim, deterministically."""

import io

import numpy as np
import pandas as pd

from ksaudit.report import plots

T0 = 1_795_587_593_000_000_000


def _tables():
    n = 40
    ts = T0 + np.arange(n, dtype=np.int64) * 10_000_000
    packets = pd.DataFrame({
        "ts_ns": ts, "iface": pd.Categorical(["wlan0"] * n), "capture": [0] * n,
        "rule": ["leak" if 10 <= i < 20 else "inside_tunnel" for i in range(n)],
        "probe_seq": [i if i % 2 else -1 for i in range(n)]})
    events = pd.DataFrame({"ts_ns": [T0 + 100_000_000, T0 + 200_000_000, T0 + 50_000_000],
                           "kind": ["tunnel_down", "tunnel_up", "probe"],
                           "file": ["logs/journal.json", "logs/journal.json", "logs/probes.jsonl"],
                           "probe_result": ["", "", "EPERM"]})
    episode = {"id": 1, "verdict": "FAIL", "start_ns": T0 + 100_000_000, "start_lo_ns": T0 + 99_000_000,
               "start_hi_ns": T0 + 100_000_000, "end_ns": T0 + 200_000_000,
               "first_leak_ns": int(ts[10]), "last_leak_ns": int(ts[19]), "window_us": 90_000,
               "leaked_frames": 10}
    return packets, events, episode


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _red_pixels(fig):
    from matplotlib.image import imread
    img = imread(io.BytesIO(_png(fig)))[..., :3]
    return int((np.abs(img - np.array([0xD1, 0x24, 0x2F]) / 255).max(axis=-1) < 0.05).sum())


def test_timeline_has_a_lane_per_interface_and_log_and_draws_leaks_red():
    packets, events, episode = _tables()
    fig = plots.timeline(packets, events, [episode], capture_names=["device.pcap"])
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["device.pcap wlan0", "log journal.json", "log probes.jsonl"]
    assert _red_pixels(fig) > 50
    no_leak = packets.assign(rule="inside_tunnel")
    assert _red_pixels(plots.timeline(no_leak, None, [])) == 0


def test_zoom_axis_is_microseconds_from_tunnel_down():
    packets, events, episode = _tables()
    fig = plots.episode_zoom(packets, events, episode, margin_us=1000)
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    assert (lo, hi) == (-1000.0, 1000.0 + (episode["first_leak_ns"] - episode["start_ns"]) / 1e3)
    assert "µs" in ax.get_xlabel()
    _png(fig)  # draws, so the tick labels exist
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert any("," in t for t in labels) and "0" in labels  # thousands separators, no offset
    assert plots.us_tick(1367500.0, (1367000, 1372000)) == "1,367,500"
    assert plots.us_tick(0.25, (-1.0, 1.0)) == "0.250"


def test_figures_are_byte_identical_across_calls():
    packets, events, episode = _tables()
    assert _png(plots.timeline(packets, events, [episode])) == _png(plots.timeline(packets, events, [episode]))


def test_window_distribution_only_when_something_leaked():
    assert plots.window_distribution([{"id": 1, "leaked_frames": 0}]) is None
    fig = plots.window_distribution([{"id": 1, "leaked_frames": 2, "window_us": 5},
                                     {"id": 2, "leaked_frames": 0}])
    assert len(fig.axes[0].patches) == 2


def test_big_captures_are_thinned_but_every_leak_is_drawn():
    n = 200_000
    ts = T0 + np.arange(n, dtype=np.int64) * 1_000
    packets = pd.DataFrame({"ts_ns": ts, "iface": pd.Categorical(["wlan0"] * n), "capture": [0] * n,
                            "rule": np.where(np.arange(n) == 12_345, "leak", "inside_tunnel"),
                            "probe_seq": np.full(n, -1)})
    fig = plots.timeline(packets, None, [])
    lines = {line.get_label(): len(line.get_xdata()) for line in fig.axes[0].get_lines()}
    assert lines == {"frame (every 7th drawn)": 28_572, "leaked frame": 1}


def test_dollar_signs_in_names_are_text_not_mathtext():
    packets, events, episode = _tables()
    events = events.assign(file=["logs/a$b.log", "logs/a$b.log", "logs/$x^{$"])
    fig = plots.timeline(packets, events, [episode], title="scenario $1")
    assert _png(fig)  # an unbalanced "$" would raise while drawing
    trend = plots.window_trend([{"build": "b$1", "scenario": "s$", "window_us": 3}])
    assert _png(trend)


def test_many_episodes_get_a_bounded_number_of_zooms_leaks_first():
    eps = [{"id": i, "start_ns": i, "leaked_frames": 1 if i in (7, 30) else 0,
            "window_us": 5 if i == 7 else 9} for i in range(1, 41)]
    chosen = plots.zoom_selection(eps, max_figures=4)
    assert [ep["id"] for ep in chosen] == [1, 2, 7, 30]
    from ksaudit.report import views
    assert "4 of 40 episodes zoomed" in views.zoom_note({"episodes": eps}, 4)
    assert views.zoom_note({"episodes": eps[:3]}, 3) == ""


def test_trend_draws_no_point_for_an_unproven_build():
    """INCONCLUSIVE / ERROR are gaps, not a 0 that would read as "no leak"."""
    rows = [{"build": b, "scenario": "s", "verdict": v, "window_us": w}
            for b, v, w in (("b1", "FAIL", 900), ("b2", "INCONCLUSIVE", None), ("b3", "PASS", None),
                            ("b4", "ERROR", None))]
    fig = plots.window_trend(rows)
    ys = list(fig.axes[0].lines[0].get_ydata())
    assert ys[0] == 900 and ys[2] == 0 and np.isnan(ys[1]) and np.isnan(ys[3])
    assert _png(fig)


def test_worst_window_chart_draws_a_bar_per_fail_and_never_a_zero_for_unproven():
    scenario = lambda name, verdict, window: {  # noqa: E731
        "name": name, "verdict": verdict,
        "analysis": {"episodes": [{"leaked_frames": 3, "window_us": window}]} if window else None}
    doc = {"scenarios": [scenario("a", "FAIL", 120_000), scenario("b", "PASS", None),
                         scenario("c", "INCONCLUSIVE", None), scenario("d", "ERROR", None)]}
    fig = plots.worst_window_chart(doc)
    widths = [bar.get_width() for bar in fig.axes[0].patches]
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert widths == [120_000, 0, 0, 0]
    assert labels == ["120,000 µs", "no leak", "INCONCLUSIVE: not proven", "ERROR: not proven"]
    assert _red_pixels(fig) > 500 and _png(fig) == _png(plots.worst_window_chart(doc))
    passing = {"scenarios": [scenario("b", "PASS", None)]}
    assert _red_pixels(plots.worst_window_chart(passing)) == 0
    assert plots.worst_window_chart({"scenarios": []}) is None
