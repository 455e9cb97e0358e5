"""verify_build on hand-made builds: the whole manifest is checked (nothing missing,
changed or added, of any file type), an edited summary.json is named CHANGED or one
clear error, never a crash, a hang or a check of files outside the build."""

import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager

import pytest

from ksaudit.errors import KsauditError
from ksaudit.report import hashing, verify

SHA = "ab" * 32


@contextmanager
def no_hang(seconds=20):
    """Fail (instead of hanging the suite) when the block blocks, e.g. on a FIFO."""
    def alarm(signum, frame):
        raise TimeoutError(f"blocked for {seconds} s")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def make_build(tmp_path, scenarios=("one",)):
    """reports/b and captures/b as `render_build` lays them out, consistent with each other."""
    reports, captures = tmp_path / "reports" / "b", tmp_path / "captures" / "b"
    reports.mkdir(parents=True)
    entries = []
    for name in scenarios:
        (captures / name / "logs").mkdir(parents=True)
        (captures / name / "scenario.yaml").write_text("build: b\n")
        (captures / name / "device.pcap").write_bytes(b"pcap" + name.encode())
        (captures / name / "logs" / "j.json").write_text("{}\n")
        inputs = [{"path": f"{name}/{rel}", "bytes": 1,
                   "sha256": hashing.sha256_file(captures / name / rel)}
                  for rel in hashing.list_files(captures / name)]
        entries.append({"name": name, "verdict": "PASS", "error": None, "report": f"{name}.html",
                        "notebook": f"{name}.ipynb", "inputs": inputs, "analysis": None})
        (reports / f"{name}.html").write_text(f"<p>{name}: PASS</p>")
        (reports / f"{name}.ipynb").write_text("{}")
    (reports / "summary.json").write_text(json.dumps({"schema": "ksaudit.summary/1",
                                                      "scenarios": entries}))
    for name in ("index.html", "index.ipynb", "CHANGELOG-snippet.md"):
        (reports / name).write_text(name)
    hashing.write_sums(reports)
    return reports, captures


def kinds(result):
    return [(p.kind, p.path) for p in result.problems]


def test_a_whole_build_verifies(tmp_path):
    reports, captures = make_build(tmp_path, ("one", "two"))
    result = verify.verify_build(reports, captures)
    assert (result.checked, result.problems, result.signature) == (8 + 6, (), "none")


def test_recorded_inputs_are_checked(tmp_path):
    reports, captures = make_build(tmp_path)
    (captures / "one" / "device.pcap").write_bytes(b"edited")
    result = verify.verify_build(reports, captures)
    assert kinds(result) == [("CHANGED", str(captures / "one" / "device.pcap"))]
    assert hashing.sha256_file(captures / "one" / "device.pcap") in result.problems[0].detail


@pytest.mark.parametrize("make, kind", [
    (lambda d: (d / "extra").mkdir(), "a directory"),
    (lambda d: (d / "extra").symlink_to("/etc"), "a symbolic link"),
    (lambda d: os.mkfifo(d / "extra"), "a FIFO"),
    (lambda d: (d / "extra").write_text("x"), "a file"),
])
def test_anything_added_to_the_build_is_unlisted(tmp_path, make, kind):
    reports, _ = make_build(tmp_path)
    make(reports)
    with no_hang():
        result = verify.verify_build(reports)
    assert kinds(result) == [("UNLISTED", str(reports / "extra"))]
    assert result.problems[0].detail.startswith(kind)


@pytest.mark.parametrize("make, kind", [
    (lambda d: (d / "logs" / "extra").mkdir(), "a directory"),
    (lambda d: (d / "extra").symlink_to("/etc"), "a symbolic link"),
    (lambda d: os.mkfifo(d / "logs" / "extra"), "a FIFO"),
])
def test_anything_added_to_the_evidence_is_unlisted(tmp_path, make, kind):
    reports, captures = make_build(tmp_path)
    make(captures / "one")
    with no_hang():
        result = verify.verify_build(reports, captures)
    assert len(result.problems) == 1 and result.problems[0].kind == "UNLISTED"
    assert result.problems[0].detail.startswith(kind)


def test_a_listed_file_replaced_by_a_fifo_is_changed_and_never_opened(tmp_path):
    reports, captures = make_build(tmp_path)
    (reports / "one.html").unlink()
    os.mkfifo(reports / "one.html")
    (captures / "one" / "device.pcap").unlink()
    os.mkfifo(captures / "one" / "device.pcap")
    with no_hang():
        result = verify.verify_build(reports, captures)
    assert kinds(result) == [("CHANGED", str(captures / "one" / "device.pcap")),
                             ("CHANGED", str(reports / "one.html"))]
    assert all(p.detail == "a FIFO, not a regular file" for p in result.problems)


def test_a_fifo_as_the_manifest_is_one_clear_error(tmp_path):
    reports, _ = make_build(tmp_path)
    (reports / hashing.SUMS_NAME).unlink()
    os.mkfifo(reports / hashing.SUMS_NAME)
    proc = subprocess.run([sys.executable, "-m", "ksaudit.cli", "verify", str(reports)],
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == \
        (2, f"ksaudit: error: {reports / hashing.SUMS_NAME}: a FIFO, not a regular file\n")


def test_a_scenario_added_to_or_removed_from_the_captures_is_reported(tmp_path):
    reports, captures = make_build(tmp_path, ("one", "two"))
    (captures / "three").mkdir()
    (captures / "three" / "scenario.yaml").write_text("build: b\n")
    (captures / "notes").mkdir()  # not a scenario: not ours to judge
    result = verify.verify_build(reports, captures)
    assert kinds(result) == [("UNLISTED", str(captures / "three"))]
    import shutil
    shutil.rmtree(captures / "two")
    result = verify.verify_build(reports, captures)
    assert ("MISSING", str(captures / "two")) in kinds(result)


def test_a_summary_json_edit_that_breaks_its_json_is_changed(tmp_path):
    reports, captures = make_build(tmp_path)
    with open(reports / "summary.json", "a") as fh:
        fh.write("{")
    proc = subprocess.run([sys.executable, "-m", "ksaudit.cli", "verify", str(reports),
                           "--captures", str(captures)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith(f"CHANGED: {reports / 'summary.json'} (sha256 ")


def test_summary_json_and_sha256sums_must_name_the_same_files(tmp_path):
    """A report dropped from the build and from SHA256SUMS together is still MISSING:
    summary.json names it.  A file added to both SHA256SUMS and the build is UNLISTED."""
    reports, _ = make_build(tmp_path, ("one", "two"))
    (reports / "two.html").unlink()
    (reports / "extra.html").write_text("x")
    hashing.write_sums(reports)
    result = verify.verify_build(reports)
    assert kinds(result) == [("UNLISTED", str(reports / "extra.html")),
                             ("MISSING", str(reports / "two.html"))]


@pytest.mark.parametrize("name", ["a\nb", "a\x85b", "a\u2028b", "a\rb"])
def test_a_manifest_line_with_a_line_break_in_a_name_is_refused(tmp_path, name):
    reports, _ = make_build(tmp_path)
    with open(reports / hashing.SUMS_NAME, "a", encoding="utf-8") as fh:
        fh.write(f"{SHA}  {name}\n")
    with pytest.raises(KsauditError, match="SHA256SUMS:"):
        verify.verify_build(reports)


def _summary(tmp_path, doc):
    reports, captures = make_build(tmp_path)
    (reports / "summary.json").write_text(json.dumps(doc))
    hashing.write_sums(reports)
    return reports, captures


SCN = {"name": "one", "report": "one.html", "notebook": "one.ipynb"}


@pytest.mark.parametrize("summary, message", [
    ([1], "no scenarios list"),
    ({"scenarios": "x"}, "no scenarios list"),
    ({"scenarios": [dict(SCN, inputs=None)]}, "scenario 1: no inputs list"),
    ({"scenarios": [dict(SCN, inputs=[{"path": 1, "sha256": SHA}])]}, "scenario 1, input 1"),
    ({"scenarios": [dict(SCN, inputs=[{"path": "one/a.pcap"}])]}, "scenario 1, input 1"),
    ({"scenarios": [dict(SCN, inputs=[{"path": "../../etc/passwd", "sha256": SHA}])]}, "input 1"),
    ({"scenarios": [dict(SCN, inputs=[{"path": "/etc/passwd", "sha256": SHA}])]}, "input 1"),
    ({"scenarios": [dict(SCN, inputs=[{"path": "two/a.pcap", "sha256": SHA}])]}, "inside one/"),
    ({"scenarios": [dict(SCN, report="../x.html", inputs=[])]}, "report is not a file name"),
])
def test_an_edited_summary_is_one_clear_error(tmp_path, summary, message):
    reports, captures = _summary(tmp_path, summary)
    with pytest.raises(KsauditError, match=f"summary.json: .*{message}"):
        verify.verify_build(reports, captures)


def test_a_build_of_one_scenario_verifies_against_that_scenario_directory(tmp_path):
    """`ksaudit render CAPTURES/<build>/<scenario>` is a build of one scenario; verify
    takes the same directory as --captures."""
    reports, captures = make_build(tmp_path)
    one = captures / "one"
    assert verify.verify_build(reports, one).problems == ()
    (one / "device.pcap").write_bytes(b"pcaq")
    assert kinds(verify.verify_build(reports, one)) == [("CHANGED", str(one / "device.pcap"))]
