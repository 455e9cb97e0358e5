"""The format registry: a broken format module is an error when ksaudit starts reading
logs, never a format that silently drops out of ``format: auto``."""

import subprocess
import sys

import pytest

from ksaudit import KsauditError, read_events
from ksaudit.oslogs import list_formats, registry


@pytest.fixture
def extra_module(tmp_path, monkeypatch):
    """Register a format module written into a temporary directory on the package path."""
    import ksaudit.oslogs as pkg

    def add(name, source):
        (tmp_path / f"{name}.py").write_text(source)
        monkeypatch.setattr(pkg, "__path__", [*pkg.__path__, str(tmp_path)])
        monkeypatch.setattr(registry, "MODULES", (*registry.MODULES, name))
        monkeypatch.delitem(sys.modules, f"ksaudit.oslogs.{name}", raising=False)
        registry.formats.cache_clear()
    yield add
    registry.formats.cache_clear()


@pytest.mark.parametrize("source, message", [
    ("import ksaudit_no_such_dependency\n", r"ksaudit\.oslogs\.broken_fmt cannot be loaded "
     r"\(ModuleNotFoundError: No module named 'ksaudit_no_such_dependency'\)"),
    ("NAME = 'x'\nraise RuntimeError('half-written')\n", r"cannot be loaded \(RuntimeError: half-written\)"),
    ("NAME = 'x'\nDESCRIPTION = 'd'\ndef sniff(head):\n    return 0\n",
     r"ksaudit\.oslogs\.broken_fmt lacks parse"),
    ("NAME = 'rfc3164'\nDESCRIPTION = 'd'\nsniff = parse = None\n",
     r"ksaudit\.oslogs\.syslog_rfc3164 and ksaudit\.oslogs\.broken_fmt both call themselves 'rfc3164'"),
])
def test_broken_format_module_is_an_error(extra_module, tmp_path, source, message):
    extra_module("broken_fmt", source)
    log = tmp_path / "x.log"
    log.write_text("Nov 25 08:01:02 host app[1]: x\n")
    with pytest.raises(KsauditError, match=message):
        read_events(log, timezone="UTC", year=2026)
    with pytest.raises(KsauditError, match=message):
        list_formats()


def test_a_good_extra_module_is_registered(extra_module):
    extra_module("extra_fmt", "NAME = 'extra'\nDESCRIPTION = 'd'\n"
                              "def sniff(head):\n    return 0.0\n"
                              "def parse(path, ctx):\n    return iter(())\n")
    assert "extra" in dict(list_formats())


def test_cli_says_it_in_one_line(tmp_path):
    """In a fresh process: the broken module is met at start, and the CLI prints one line."""
    (tmp_path / "broken_fmt.py").write_text("import ksaudit_no_such_dependency\n")
    log = tmp_path / "x.log"
    log.write_text("Nov 25 08:01:02 host app[1]: x\n")
    code = ("import sys, ksaudit.oslogs as p, ksaudit.oslogs.registry as r\n"
            f"p.__path__.append({str(tmp_path)!r}); r.MODULES += ('broken_fmt',)\n"
            "from ksaudit.cli import main\n"
            f"sys.exit(main(['events', {str(log)!r}, '--timezone', 'UTC']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "ksaudit.oslogs.broken_fmt cannot be loaded" in proc.stderr
