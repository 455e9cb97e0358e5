"""Report sections from analysis documents: content, and hostile text escaped."""

import copy
import re

from ksaudit.report import buildviews, views
from ksaudit.report.html import table
from ksaudit.report.summary import build_summary, changelog_snippet

HOSTILE = "<script>alert(\"x\")</script>'&"

DOC = {
    "schema": "ksaudit.analysis/1", "ksaudit_version": "0.1.0", "verdict": "FAIL",
    "scenario": {"name": "s<1>", "build": "b\"1", "platform": "linux", "scenario": "process-kill",
                 "description": HOSTILE, "device": {"tunnel_interfaces": ["wg0"],
                                                    "physical_interfaces": ["wlan0"]},
                 "vpn": {"endpoints": ["198.51.100.2:51820/udp"]},
                 "policy": {"allow_lan": False, "allow": [], "tolerance_us": 1000}},
    "reasons": [{"code": "leak", "message": f"leak to {HOSTILE}", "episode": 1}],
    "episodes": [
        {"id": 1, "verdict": "FAIL", "start_ns": 1_795_587_593_463_073_150,
         "start_lo_ns": 1_795_587_593_463_000_000, "start_hi_ns": 1_795_587_593_463_073_150,
         "end_ns": 1_795_587_594_463_073_150, "duration_us": 1_000_000, "leaked_frames": 2,
         "leaked_bytes": 140, "destinations": ["203.0.113.53"], "distinct_destinations": 1,
         "first_leak_ns": 1_795_587_593_463_074_150, "last_leak_ns": 1_795_587_593_475_074_150,
         "window_ns": 12_000_000, "window_us": 12_000, "time_to_first_leak_us": 1,
         "categories": {"ipv4": 2, "dns": 1}, "detection_resolution_us": 10_000,
         "probes": {"attempted": 100, "sent": 100, "blocked": 0, "leaked": 1, "interval_us": 10_000},
         "evidence": [{"capture": "device.pcap", "frame": 7, "ts_ns": 1_795_587_593_463_074_150,
                       "dns_query": HOSTILE + ".example", "tls_sni": "x" * 5000,
                       "http_host": "", "summary": "UDP"}]},
        {"id": 2, "verdict": "PASS", "start_ns": 1_795_587_600_000_000_000,
         "end_ns": 1_795_587_601_000_000_000, "leaked_frames": 0, "window_us": None,
         "detection_resolution_us": 10_000}],
    "leaks": {"total": 2, "shown": 2, "rows": [
        {"capture": "device.pcap", "frame": 7, "ts_ns": 1_795_587_593_463_074_150, "iface": "wlan0",
         "src": "192.168.50.10", "dst": "203.0.113.53", "proto": 17, "sport": 5353, "dport": 53,
         "length": 70, "category": "dns", "episode": 1, "rule": "leak"},
        {"capture": "device.pcap", "frame": 9, "ts_ns": 1_795_587_593_475_074_150, "iface": "wlan0",
         "src": "192.168.50.10", "dst": "203.0.113.53", "proto": 17, "sport": 5353, "dport": 53,
         "length": 70, "category": "dns", "episode": 1, "rule": "leak"}]},
    "inputs": [{"path": "logs/<x>.log", "role": "log", "bytes": 10, "sha256": "ab" * 32}],
    "captures": [{"file": "device.pcap", "vantage": "device", "clock": "device", "packets": 9,
                  "first_ns": 1, "last_ns": 2, "dropped": None, "truncated": False}],
    "alignment": {"reference": "device", "uncertainty_ns": 0, "uncertainty_us": 0, "segments": []},
}


def _all_sections(doc):
    return "".join([views.title(doc), views.verdict_banner(doc), views.tested(doc),
                    views.evidence_table(doc), views.episodes_table(doc), views.leak_table(doc),
                    views.probe_table(doc), views.trials(doc), views.alignment(doc),
                    views.provenance(doc, {"scenario_dir": HOSTILE})])


def test_hostile_text_never_becomes_markup():
    html = _all_sections(DOC)
    assert "<script" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#x27;&amp;.example" in html
    assert "x" * 2001 not in html and "more characters]" in html


def test_verdict_banner_lists_reasons_and_pass_states_resolution():
    assert "ks-verdict ks-FAIL" in views.verdict_banner(DOC)
    assert "[leak, episode 1]" in views.verdict_banner(DOC)
    passing = copy.deepcopy(DOC)
    passing.update(verdict="PASS", reasons=[])
    text = views.verdict_banner(passing)
    assert "ks-verdict ks-PASS" in text and "shorter than 10,000 µs could go unseen" in text


def test_times_keep_every_nanosecond():
    assert views.utc(1_795_587_593_463_073_150) == "2026-11-25 06:19:53.463073150Z"
    assert views.rel_us(1_000_001_234, 1_000_000_000) == "+1.234"
    assert views.rel_us(999_998_766, 1_000_000_000) == "-1.234"


def test_leak_table_joins_deep_evidence_and_states_what_is_cut():
    html = views.leak_table(DOC, max_rows=1)
    assert html.count('<tr class="ks-leak">') == 1
    assert "+1.000" in html  # µs after tunnel-down
    assert "1 of 2 leaked frames shown" in html


def test_trials_give_wilson_interval():
    html = views.trials(DOC)
    assert "Trials (episodes with a verdict)</dt><dd>2" in html
    assert "50.0% (95 % Wilson interval 9.5% – 90.5%)" in html


def test_table_escapes_headers_and_cells():
    html = table(["<h>"], [["<c>"]])
    assert "&lt;h&gt;" in html and "&lt;c&gt;" in html and "<c>" not in html


def test_build_views_and_snippet_escape_and_link():
    entry = {"name": "a<b", "verdict": "FAIL", "error": None, "report": "a<b.html",
             "notebook": "a<b.ipynb", "inputs": [{"path": "a<b/x", "bytes": 1, "sha256": "0" * 64}],
             "analysis": DOC}
    doc = build_summary("b1", [entry])
    html = "".join([buildviews.banner(doc), buildviews.scenario_table(doc),
                    buildviews.verdict_matrix(doc), buildviews.worst_windows(doc),
                    buildviews.trend_table(buildviews.trend_rows([doc])), buildviews.build_facts(doc)])
    assert "<b" not in html.replace("<body", "")
    assert 'href="a%3Cb.html"' in html
    assert "12,000" in buildviews.worst_windows(doc)
    snippet = changelog_snippet(doc)
    assert "a&lt;b" in snippet and "[report](a%3Cb.html)" in snippet and "12,000" in snippet


def test_explicit_timestamp_is_the_only_wall_clock(monkeypatch):
    from ksaudit.report import render_cli

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795587593")
    stamp = render_cli._timestamp()
    assert stamp == "2026-11-25T06:19:53Z"
    doc = build_summary("b1", [], generated=stamp)
    assert doc["generated"] == stamp and f"Generated {stamp}." in changelog_snippet(doc)
    assert "generated" not in build_summary("b1", []) and "Generated" not in changelog_snippet(build_summary("b1", []))


def test_leak_table_keeps_frames_with_deep_evidence_when_cut():
    """A DNS query leaked late in a long leak is still listed when the table is cut."""
    doc = copy.deepcopy(DOC)
    row = doc["leaks"]["rows"][1]
    doc["leaks"]["rows"] = [dict(row, frame=100 + i, ts_ns=row["ts_ns"] + i) for i in range(60)]
    doc["leaks"]["total"] = doc["leaks"]["shown"] = 60
    doc["episodes"][0]["evidence"] = [{"capture": "device.pcap", "frame": 150,
                                       "dns_query": "late.example", "summary": "DNS"}]
    html = str(views.leak_table(doc, max_rows=5))
    frames = re.findall(r"<td>device\.pcap#(\d+)</td>", html)
    assert frames == ["100", "101", "102", "103", "150"]  # time order, the DNS frame kept
    assert "late.example" in html and "5 of 60 leaked frames shown" in html


def test_a_displayed_view_carries_the_report_css_scoped_to_itself():
    """In JupyterLab an output has no report template around it: the view brings the
    stylesheet, every rule under .ks-view (nothing restyles JupyterLab itself), with no
    script or URL, and the same bytes on every display."""
    from ksaudit.report.html import view_css
    from ksaudit.report.resources import CSS_PATH

    fragment = views.verdict_banner(DOC)
    shown = fragment._repr_html_()
    assert shown == f'<div class="ks-view"><style>{view_css()}</style>{fragment}</div>'
    assert shown == views.verdict_banner(DOC)._repr_html_() and str(fragment) in shown
    rules = re.findall(r"([^{}]+)\{[^{}]*\}", view_css())
    assert len(rules) > 20
    for selectors in rules:
        assert all(s.strip().startswith(".ks-view") for s in selectors.split(",")), selectors
    assert "<script" not in shown.lower() and "url(" not in shown and "@import" not in shown
    source = CSS_PATH.read_text()
    assert "#cf222e" in source and "#cf222e" in view_css()   # derived, not a copy
    assert "body" not in view_css() and ".jp-" not in view_css() and "@media" not in view_css()
