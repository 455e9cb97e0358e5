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
