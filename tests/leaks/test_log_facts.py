"""What read_events learned about each log reaches Analysis.logs, the analysis
document and the report unchanged (only the path made scenario-relative)."""

import json

import pytest

from ksaudit import analyze, read_events
from ksaudit.errors import KsauditError
from ksaudit.oslogs import LogFacts
from ksaudit.report import views
from leak_builder import T0

BANNER = """\
┌──────────────────────────────────────────────────────┐
│                                                      │
│   Running wireguard-go is not required because this  │
│   kernel has first class support for WireGuard. For  │
│   information on installing the kernel module,       │
│   please visit:                                      │
│         https://www.wireguard.com/install/           │
│                                                      │
└──────────────────────────────────────────────────────┘
"""
# T0 is 2026-11-25 06:19:53 UTC; lines that open no episode
WG_LOG = BANNER + """\
DEBUG: (wg0) 2026/11/25 06:19:53 Device started
DEBUG: (wg0) 2026/11/25 06:19:53 UAPI listener started
garbage the harness wrote
"""
LOGS = [{"file": "logs/journal.json", "format": "journald-json"},
        {"file": "logs/probes.jsonl", "format": "ksaudit-probe"},
        {"file": "logs/wg.log", "format": "auto", "timezone": "UTC"}]


def _strong(builder, logs=LOGS):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    root = builder.write(logs=logs)
    (root / "logs" / "wg.log").write_text(WG_LOG, encoding="utf-8")
    return root


def test_facts_pass_from_read_events_to_the_document_unchanged(builder):
    root = _strong(builder)
    a = analyze(root)
    assert a.verdict.status == "PASS", a.verdict.reasons
    assert all(isinstance(f, LogFacts) for f in a.logs)
    assert [f.file for f in a.logs] == [lg["file"] for lg in LOGS]
    wg = a.logs[2]
    assert (wg.format, wg.chosen_by, wg.sniff_score) == ("wireguard-go", "sniffed", 0.9)
    assert (wg.timezone, wg.timezone_source, wg.stamp_zones) == ("UTC", "declared",
                                                                 (("declared", 2),))
    assert (wg.preamble_lines, wg.events, wg.malformed, wg.quantum_ns) == (9, 2, 1, 10**9)
    assert wg.malformed_examples[0].line == 12
    assert wg.notes[0].startswith("skipped a 9-line preamble (lines 1-9)")
    # the same facts read_events makes, but for the scenario-relative path
    direct = read_events({"file": str(root / "logs/wg.log"), "timezone": "UTC"}).attrs["files"][0]
    assert direct.file == str(root / "logs/wg.log")
    assert direct.to_dict() == {**wg.to_dict(), "file": str(root / "logs/wg.log")}
    journal, probes = a.logs[0], a.logs[1]
    assert (journal.chosen_by, journal.stamp_zones) == ("declared", (("assumed-utc", 2),))
    assert (probes.format, probes.quantum_ns, probes.timezone) == ("ksaudit-probe", 1, None)

    doc = a.to_dict()
    assert doc["logs"] == [f.to_dict() for f in a.logs]
    text = json.dumps(doc, sort_keys=True)
    assert str(root) not in text
    entry = doc["logs"][2]
    assert entry["stamp_zones"] == {"declared": 2}
    assert entry["malformed_examples"] == [{"line": 12, "text": "garbage the harness wrote",
                                            "reason": "not a wireguard-go log line"}]
    assert set(entry) == {"file", "format", "clock", "chosen_by", "sniff_score", "timezone",
                          "timezone_source", "stamp_zones", "preamble_lines", "events",
                          "malformed", "malformed_examples", "ambiguous", "quantum_ns",
                          "notes", "missing"}


def test_report_evidence_shows_the_log_facts(builder):
    doc = json.loads(json.dumps(analyze(_strong(builder)).to_dict()))
    html = views.evidence_table(doc)
    assert "logs/wg.log" in html and "sniffed (score 0.9)" in html
    assert "skipped a 9-line preamble (lines 1-9)" in html
    assert "line 12: not a wireguard-go log line: garbage the harness wrote" in html
    assert "UTC (declared: 2)" in html and "1 s" in html
    assert "none given (assumed-utc: " in html


def test_a_missing_log_has_facts_and_a_reason(builder):
    logs = LOGS + [{"file": "logs/openvpn.log", "format": "openvpn"}]
    a = analyze(_strong(builder, logs))
    assert a.verdict.status == "INCONCLUSIVE"
    assert "log_missing" in {r.code for r in a.verdict.reasons}
    gone = a.logs[3]
    assert gone == LogFacts.missing_file("logs/openvpn.log", "openvpn", "device")
    assert a.to_dict()["logs"][3]["missing"] is True
    assert "declared but missing" in views.evidence_table(a.to_dict())


def test_t0_is_what_the_wireguard_go_lines_say(builder):
    a = analyze(_strong(builder))
    wg = a.events[a.events["file"].astype(str) == "logs/wg.log"]
    assert wg["src_ts_ns"].tolist() == [T0 // 10**9 * 10**9] * 2


def test_analyze_cli_names_the_skipped_preamble(builder, capsys):
    from ksaudit.cli import main
    assert main(["analyze", str(_strong(builder))]) == 0
    out = capsys.readouterr().out
    assert ("  log logs/wg.log: format wireguard-go (sniffed, score 0.9), 2 events, 1 malformed, "
            "9-line preamble skipped") in out
    assert "    note: skipped a 9-line preamble (lines 1-9) before the first wireguard-go line" in out


def test_a_declared_year_reads_a_feb_29_syslog_line(builder):
    builder.probes_run(0, 3000, lambda t: "block" if 1000 <= t < 1500 else "up")
    builder.down_up(1000, 1500)
    logs = [{"file": "logs/journal.json"}, {"file": "logs/probes.jsonl"},
            {"file": "logs/syslog", "format": "rfc3164", "timezone": "UTC", "year": 2028}]
    root = builder.write(logs=logs)
    (root / "logs/syslog").write_text("Feb 29 12:00:00 device vpnd[7]: hello\n")
    facts = analyze(root).logs[2]
    assert (facts.events, facts.malformed) == (1, 0)
    (root / "scenario.yaml").write_text((root / "scenario.yaml").read_text()
                                        .replace("year: 2028", "year: 2027"))
    with pytest.raises(KsauditError, match="not a leap year"):
        analyze(root)
