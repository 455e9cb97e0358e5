"""The report's log table: every fact of the document's ``logs`` shown, evidence text escaped."""

from ksaudit.report import views

HOSTILE = "<script>alert(1)</script>"
LOGS = [
    {"file": "logs/wg.log", "format": "wireguard-go", "clock": "device", "chosen_by": "sniffed",
     "sniff_score": 0.9, "timezone": "Europe/Berlin", "timezone_source": "declared",
     "stamp_zones": {"declared": 1200}, "preamble_lines": 9, "events": 1200, "malformed": 7,
     "malformed_examples": [{"line": 40, "text": HOSTILE, "reason": "not a wireguard-go log line"}],
     "ambiguous": 0, "quantum_ns": 1_000_000_000,
     "notes": [f"skipped a 9-line preamble (lines 1-9) before the first wireguard-go line; "
               f"it begins '{HOSTILE}'"], "missing": False},
    {"file": "logs/probes.jsonl", "format": "ksaudit-probe", "clock": "device",
     "chosen_by": "declared", "sniff_score": 0.98, "timezone": None, "timezone_source": None,
     "stamp_zones": {"assumed-utc": 300}, "preamble_lines": 0, "events": 300, "malformed": 0,
     "malformed_examples": [], "ambiguous": 0, "quantum_ns": 1, "notes": [], "missing": False},
    {"file": "logs/openvpn.log", "format": "openvpn", "clock": "device", "chosen_by": None,
     "sniff_score": None, "timezone": None, "timezone_source": None, "stamp_zones": {},
     "preamble_lines": 0, "events": 0, "malformed": 0, "malformed_examples": [], "ambiguous": 0,
     "quantum_ns": None, "notes": [], "missing": True},
]


def _rows(html):
    return html.split("<tr")[2:]          # after the header row


def test_every_log_fact_is_shown():
    rows = _rows(views.log_table({"logs": LOGS}))
    assert len(rows) == 3
    wg, probes, gone = rows
    for text in ("logs/wg.log", "wireguard-go", "sniffed (score 0.9)", "Europe/Berlin (declared: 1,200)",
                 "1,200", ">7<", ">9<", "1 s", "skipped a 9-line preamble (lines 1-9)",
                 "line 40: not a wireguard-go log line: "):
        assert text in wg, text
    assert "declared" in probes and "none given (assumed-utc: 300)" in probes and "1 ns" in probes
    assert "declared but missing" in gone


def test_log_text_is_escaped():
    html = views.log_table({"logs": LOGS})
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_no_logs_and_resolutions():
    assert "no logs declared" in views.log_table({})
    assert [views._resolution(q) for q in (10**9, 10**6, 1000, 100, 1, None)] == [
        "1 s", "1 ms", "1 µs", "100 ns", "1 ns", "–"]
    assert views.log_table({"logs": LOGS}) in views.evidence_table({"logs": LOGS})
