import subprocess
import sys

import pytest

from ksaudit import cli


def run(*args):
    return subprocess.run([sys.executable, "-m", "ksaudit.cli", *args],
                          capture_output=True, text=True, timeout=120)


def test_help_lists_every_command():
    proc = run("--help")
    assert proc.returncode == 0
    for name in cli.COMMANDS:
        assert name in proc.stdout


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_each_command_has_help(name):
    proc = run(name, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage: ksaudit " + name in proc.stdout


def test_unknown_command_is_usage_error_without_traceback():
    proc = run("no-such-command")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("ksaudit: error:")


@pytest.mark.parametrize("command", ["packets", "events"])
def test_a_fifo_input_is_one_line_not_a_hang(tmp_path, command):
    import os

    os.mkfifo(tmp_path / "in.fifo")
    proc = subprocess.run([sys.executable, "-m", "ksaudit.cli", command, str(tmp_path / "in.fifo")],
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == \
        (2, f"ksaudit: error: {tmp_path / 'in.fifo'}: a FIFO, not a regular file\n")


def test_analyze_a_scenario_yaml_directory_is_one_line(tmp_path):
    (tmp_path / "scn" / "scenario.yaml").mkdir(parents=True)
    proc = run("analyze", str(tmp_path / "scn"))
    assert proc.returncode == 2 and "internal error" not in proc.stderr
    assert proc.stderr == f"ksaudit: error: {tmp_path / 'scn' / 'scenario.yaml'}: a directory, " \
                          "not a regular file\n"


def test_verify_prints_an_unsafe_name_on_one_line(tmp_path):
    from ksaudit.report import hashing

    reports = tmp_path / "b"
    reports.mkdir()
    hashing.write_sums(reports)
    (reports / "evil\nname").write_text("x")
    proc = run("verify", str(reports))
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[0] == f"UNLISTED: {str(reports / 'evil')!r}"[:-1] + "\\nname'" \
        " (a file, not in the recorded hashes)"
