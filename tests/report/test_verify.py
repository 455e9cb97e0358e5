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
