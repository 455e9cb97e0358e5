"""Declared clocks: validated once (scenario.yaml), one model for frames and events."""

import numpy as np
import pandas as pd
import pytest
import yaml

import ksaudit
from ksaudit.align import ClockModel, parse_clocks, place_capture
from ksaudit.errors import KsauditError
from ksaudit.scenario import load_scenario
from ksaudit.window import WindowUnderTest, parse_window, resolve_window

T0 = 1_795_587_593_000_000_000
MINIMAL = {"build": "b", "vpn": {"endpoints": ["198.51.100.2:51820/udp"]},
           "captures": [{"file": "device.pcapng"}]}


def scenario(tmp_path, **extra):
    d = tmp_path / "scn"
    d.mkdir(exist_ok=True)
    (d / "scenario.yaml").write_text(yaml.safe_dump(dict(MINIMAL, **extra)))
    return load_scenario(d)


@pytest.mark.parametrize("spec, where", [
    ({"skew_ppm": float("nan")}, "skew_ppm"),
    ({"skew_ppm": float("inf")}, "skew_ppm"),
    ({"skew_ppm": -float("inf")}, "skew_ppm"),
    ({"skew_ppm": 1e6}, "skew_ppm"),
    ({"skew_ppm": "40"}, "skew_ppm"),
    ({"offset_ns": 2**63}, "offset_ns"),
    ({"offset_ns": 1.5}, "offset_ns"),
    ({"uncertainty_ns": -1}, "uncertainty_ns"),
    ({"uncertainty_ns": 2**64}, "uncertainty_ns"),
    ({"offset": 3}, "offset"),
])
def test_bad_clock_declarations_are_one_line_errors(tmp_path, spec, where):
    with pytest.raises(KsauditError, match=where) as exc:
        scenario(tmp_path, clocks={"router": spec})
    assert "\n" not in str(exc.value) and "clocks.router" in str(exc.value)


def test_a_clock_is_a_model_in_the_scenario_and_in_its_document(tmp_path):
    sc = scenario(tmp_path, clocks={"router": {"offset_ns": -5, "skew_ppm": 40,
                                               "uncertainty_ns": 7}})
    assert sc.clocks == {"router": ClockModel(-5, 40.0, 7)}
    assert sc.to_dict()["clocks"] == {"router": {"offset_ns": -5, "skew_ppm": 40.0,
                                                 "uncertainty_ns": 7}}


def test_skew_moves_frames_as_it_moves_events():
    """One model, one pivot: an event and a frame at the same clock time land together."""
    models = parse_clocks({"router": {"offset_ns": 1_000, "skew_ppm": 40}})
    hour = 3600 * 10**9
    ts = np.array([T0, T0 + hour], np.int64)
    new, where = place_capture("ext.pcap", "router", ts, reference="device", models=models,
                               pivot_ns=T0)
    assert where.model == "declared" and where.skew_ppm == 40.0
    assert (new - ts).tolist() == [1_000, 1_000 + 144_000_000]       # 40 ppm of an hour
    ev = pd.DataFrame({"ts_ns": ts, "t_lo_ns": ts, "t_hi_ns": ts, "source_clock": "router",
                       "kind": "other", "boot_id": "", "file": "f", "line": [1, 2]})
    res = ksaudit.align(ev, clocks=models, reference="device", pivot_ns=T0)
    assert res.events["ts_ns"].tolist() == new.tolist()


def test_relative_models_subtract_offsets_and_skews_and_add_uncertainties():
    models = parse_clocks({"device": {"offset_ns": 10, "skew_ppm": 5, "uncertainty_ns": 3},
                           "router": {"offset_ns": 110, "skew_ppm": 25, "uncertainty_ns": 4}})
    ts = np.array([T0, T0 + 10**9], np.int64)
    new, where = place_capture("ext.pcap", "router", ts, reference="device", models=models,
                               pivot_ns=T0)
    assert (new - ts).tolist() == [100, 100 + 20_000] and where.uncertainty_ns == 7


def test_undeclared_clock_without_probes_is_not_placed():
    ts = np.array([T0, T0 + 1], np.int64)
    new, where = place_capture("ext.pcap", "router", ts, reference="device", models={},
                               pivot_ns=T0, probe_send_ns=np.array([-1, -1]))
    assert where.uncertainty_ns is None and (new == ts).all()


def test_probe_fit_per_segment_of_its_clock():
    """A step of the capture's clock (seen in that clock's logs) splits the fit."""
    send = T0 + np.arange(40, dtype=np.int64) * 10_000_000
    cap = send + 3_000 + 500                       # offset -3000 before, transit 500 ns
    cap[20:] += 5_000_000_000                      # the clock stepped 5 s forward
    new, where = place_capture("ext.pcap", "router", cap, reference="device", models={},
                               pivot_ns=T0, probe_send_ns=send,
                               segment_starts=(int(cap[20]) - 1,))
    assert where.segments == 2 and where.uncertainty_ns <= 1_000
    assert np.abs(new - send).max() <= 1_000


def test_ksaudit_align_is_a_plain_function_even_after_importing_the_package():
    import ksaudit.align.segments  # noqa: F401
    assert callable(ksaudit.align) and type(ksaudit.align).__name__ == "function"


@pytest.mark.parametrize("raw, where", [
    ({"start_ns": 5, "after_s": 1}, "either"),
    ({"start_ns": 10, "end_ns": 5}, "before"),
    ({"after_s": float("nan")}, "after_s"),
    ({"strat_ns": 1}, "strat_ns"),
    ("all", "window"),
    ({}, "window"),
])
def test_bad_windows_are_one_line_errors(raw, where):
    with pytest.raises(KsauditError, match=where):
        parse_window(raw)


def test_window_defaults_and_declarations():
    probes = np.array([T0 + 5, T0 + 9], np.int64)
    w = resolve_window(None, probe_log_ns=probes, probe_frame_ns=[], capture_first_ns=T0,
                       capture_last_ns=T0 + 20)
    assert w == WindowUnderTest(T0 + 5, T0 + 9, "probe log")
    # a probe log cut short does not shrink the window below the probes captured
    w2 = resolve_window(None, probe_log_ns=probes, probe_frame_ns=[T0 + 6, T0 + 15],
                        capture_first_ns=T0, capture_last_ns=T0 + 20)
    assert (w2.start_ns, w2.end_ns, w2.source) == (T0 + 5, T0 + 15, "probe log + probe packets")
    assert w.outside(T0 + 10, T0 + 30) == "after" and w.outside(T0, T0 + 4) == "before"
    assert w.outside(T0 + 8, T0 + 30) is None
    w = resolve_window(parse_window({"after_s": 1, "before_s": 2}), probe_log_ns=probes,
                       probe_frame_ns=[], capture_first_ns=T0, capture_last_ns=T0 + 20)
    assert (w.start_ns, w.end_ns, w.source) == (T0 + 10**9, T0 + 2 * 10**9, "declared")
    w = resolve_window(parse_window({"end_ns": T0 + 7}), probe_log_ns=probes,
                       probe_frame_ns=[], capture_first_ns=T0, capture_last_ns=T0 + 20)
    assert (w.start_ns, w.end_ns) == (T0 + 5, T0 + 7)
    w = resolve_window(None, probe_log_ns=[], probe_frame_ns=[], capture_first_ns=T0,
                       capture_last_ns=T0 + 20)
    assert w.source == "capture" and (w.start_ns, w.end_ns) == (T0, T0 + 20)
