"""The real notebooks on copies of the lab's sample build (rendered once per session):
report contents, hostile evidence escaped, determinism, ERROR for a broken scenario."""

import json
import re

import ksaudit

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|@import|url\(\s*["']?(?:https?:)?//""",
                      re.IGNORECASE)


def _html(sample_render, name):
    return (sample_render["out"] / f"{name}.html").read_text(encoding="utf-8")


def test_build_outputs_and_exit_code(sample_render):
    out = sample_render["out"]
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["CHANGELOG-snippet.md", "SHA256SUMS", "index.html", "index.ipynb",
                            "summary.json", "none-process-kill.html", "none-process-kill.ipynb",
                            "strong-reconnect-3-trials.html", "strong-reconnect-3-trials.ipynb",
                            "zz-broken.html", "zz-broken.ipynb"])
    assert sample_render["first"].exit_code == 1  # a FAIL wins over the ERROR


def test_summary_holds_each_analysis_document(sample_render):
    doc = json.loads((sample_render["out"] / "summary.json").read_text())
    by = {s["name"]: s for s in doc["scenarios"]}
    fresh = ksaudit.analyze(sample_render["build"] / "strong-reconnect-3-trials").to_dict()
    assert by["strong-reconnect-3-trials"]["analysis"] == json.loads(json.dumps(fresh))
    assert by["none-process-kill"]["verdict"] == "FAIL"
    assert doc["verdict"] == "FAIL" and doc["exit_code"] == 1


def test_broken_scenario_is_error_with_its_reason(sample_render):
    doc = json.loads((sample_render["out"] / "summary.json").read_text())
    broken = next(s for s in doc["scenarios"] if s["name"] == "zz-broken")
    assert broken["verdict"] == "ERROR" and broken["analysis"] is None
    assert broken["error"].startswith("KsauditError:") and "tolerance_typo_us" in broken["error"]
    page = _html(sample_render, "zz-broken")
    assert 'class="ks-verdict ks-ERROR"' in page and "tolerance_typo_us" in page


def test_report_shows_every_section(sample_render):
    page = _html(sample_render, "none-process-kill")
    assert 'class="ks-verdict ks-FAIL"' in page
    for heading in ("What was tested", "Evidence", "Timeline", "Tunnel-down episodes", "Leaks",
                    "Log events", "Probes and detection resolution", "Repeated trials",
                    "Clock alignment", "Provenance"):
        assert f">{heading}<" in page, heading
    assert page.count("data:image/png;base64,") >= 3  # timeline, a zoom, the window distribution
    from ksaudit.report.hashing import sha256_file
    assert sha256_file(sample_render["build"] / "none-process-kill" / "device.pcap") in page
    assert "wlan0" in page and "process-kill" in page
    assert "Leak probability" in page and "Wilson" in page


def test_repeated_trials_report_probability_interval(sample_render):
    page = _html(sample_render, "strong-reconnect-3-trials")
    assert 'class="ks-verdict ks-PASS"' in page
    assert "0.0% (95 % Wilson interval 0.0% – 56.1%)" in page  # 0 of 3 trials leaked


def test_reports_are_self_contained(sample_render):
    for path in sample_render["out"].glob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert "<script" not in text.lower(), path.name
        assert not EXTERNAL.search(text), (path.name, EXTERNAL.search(text).group(0))
        assert "<link" not in text.lower(), path.name


def test_hostile_dns_name_and_log_line_are_escaped(sample_render):
    page = _html(sample_render, "none-process-kill")
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\"'x.example" in page  # DNS name, deep evidence
    assert "&lt;script&gt;alert('log')&lt;/script&gt; \"quoted\"" in page  # the log line
    assert "A" * 1900 in page and "A" * 2001 not in page and "more characters]" in page
    snippet = (sample_render["out"] / "CHANGELOG-snippet.md").read_text()
    assert "<script" not in snippet


def test_same_inputs_give_byte_identical_build(sample_render):
    out, snap = sample_render["out"], sample_render["snapshot"]
    again = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
    assert sorted(again) == sorted(snap)
    assert [n for n in snap if snap[n] != again[n]] == []


def test_index_links_every_scenario_report(sample_render):
    index = _html(sample_render, "index")
    for name in ("none-process-kill", "strong-reconnect-3-trials", "zz-broken"):
        assert f'href="{name}.html"' in index
    assert 'class="ks-verdict ks-FAIL"' in index and "Verdict matrix" in index
