"""verify_build on hand-made builds: an edited summary.json is one clear error, never a
crash or a check of files outside the build."""

import json

import pytest

from ksaudit.errors import KsauditError
from ksaudit.report import hashing, verify

SHA = "ab" * 32


def _build(tmp_path, summary):
    reports, captures = tmp_path / "reports" / "b", tmp_path / "captures" / "b"
    reports.mkdir(parents=True)
    (captures / "one").mkdir(parents=True)
    (captures / "one" / "a.pcap").write_bytes(b"pcap")
    (reports / "summary.json").write_text(json.dumps(summary))
    hashing.write_sums(reports)
    return reports, captures


def test_recorded_inputs_are_checked(tmp_path):
    reports, captures = _build(tmp_path, {"scenarios": [{"inputs": [{"path": "one/a.pcap",
                                                                       "sha256": SHA}]}]})
    checked, problems = verify.verify_build(reports, captures)
    assert checked == 2
    assert [(p.kind, p.path) for p in problems] == [("CHANGED", str(captures / "one" / "a.pcap"))]
    assert hashing.sha256_file(captures / "one" / "a.pcap") in problems[0].detail


@pytest.mark.parametrize("summary, message", [
    ([1], "no scenarios list"),
    ({"scenarios": "x"}, "no scenarios list"),
    ({"scenarios": [{"inputs": None}]}, "scenario 1: no inputs list"),
    ({"scenarios": [{"inputs": [{"path": 1, "sha256": SHA}]}]}, "scenario 1, input 1"),
    ({"scenarios": [{"inputs": [{"path": "one/a.pcap"}]}]}, "scenario 1, input 1"),
    ({"scenarios": [{"inputs": [{"path": "../../etc/passwd", "sha256": SHA}]}]}, "input 1"),
    ({"scenarios": [{"inputs": [{"path": "/etc/passwd", "sha256": SHA}]}]}, "input 1"),
])
def test_an_edited_summary_is_one_clear_error(tmp_path, summary, message):
    reports, captures = _build(tmp_path, summary)
    with pytest.raises(KsauditError, match=f"summary.json: .*{message}"):
        verify.verify_build(reports, captures)


def test_a_build_of_one_scenario_verifies_against_that_scenario_directory(tmp_path):
    """`ksaudit render CAPTURES/<build>/<scenario>` is a build of one scenario; verify
    takes the same directory as --captures."""
    reports, captures = tmp_path / "reports" / "one", tmp_path / "captures" / "b" / "one"
    captures.mkdir(parents=True)
    (captures / "scenario.yaml").write_text("build: b\n")
    (captures / "a.pcap").write_bytes(b"pcap")
    inputs = [{"path": f"one/{n}", "sha256": hashing.sha256_file(captures / n)}
              for n in ("a.pcap", "scenario.yaml")]
    reports.mkdir(parents=True)
    (reports / "summary.json").write_text(json.dumps({"scenarios": [{"inputs": inputs}]}))
    hashing.write_sums(reports)
    assert verify.verify_build(reports, captures) == (3, [])
    (captures / "a.pcap").write_bytes(b"pcaq")
    _, problems = verify.verify_build(reports, captures)
    assert [(p.kind, p.path) for p in problems] == [("CHANGED", str(captures / "a.pcap"))]
