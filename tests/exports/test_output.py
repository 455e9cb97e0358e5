"""Atomic output: a complete file or none, and links and devices written through, never
replaced (renaming over /dev/stdout would replace the device link itself)."""

import os
import stat

import pytest

from ksaudit.errors import KsauditError
from ksaudit.exports.output import atomic_output, check_target


def test_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "out.xml"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as fh:
            fh.write(b"half")
            raise RuntimeError("stop")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.xml"]
    with atomic_output(target) as fh:
        fh.write(b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["out.xml"]


def test_links_and_devices_are_written_through(tmp_path):
    real = tmp_path / "real.xml"
    real.write_bytes(b"old")
    link = tmp_path / "link.xml"
    link.symlink_to(real)
    check_target(link, "--junit")
    with atomic_output(link) as fh:
        fh.write(b"through the link")
    assert link.is_symlink() and real.read_bytes() == b"through the link"
    with atomic_output(os.devnull) as fh:
        fh.write(b"discarded")
    assert stat.S_ISCHR(os.lstat(os.devnull).st_mode)


def test_bad_targets_are_one_line(tmp_path):
    with pytest.raises(KsauditError, match="a directory, not a file name"):
        check_target(tmp_path, "-o")
    with pytest.raises(KsauditError, match="no such directory"):
        check_target(tmp_path / "no" / "x.csv", "-o")
    with pytest.raises(KsauditError, match="cannot write"):
        with atomic_output(tmp_path / "no" / "x.csv") as fh:
            fh.write(b"x")


def _digests(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_no_export_writes_into_the_evidence(builder, tmp_path):
    """An output named inside the scenario, or a link to one of its files (a link
    out/device.pcapng -> the capture was written through and truncated the capture
    annotate was reading: a bus error and the evidence gone), is one line, exit 2."""
    import subprocess
    import sys

    builder.probes_run(0, 2000, lambda t: "leak" if 1000 <= t < 1200 else "up")
    builder.down_up(1000, 1200)
    root = builder.write()
    before = _digests(root)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "device.pcapng").symlink_to(root / "device.pcap")
    (tmp_path / "scenario-link.csv").symlink_to(root / "scenario.yaml")
    for args in (["annotate", root, "-o", tmp_path / "out"],
                 ["timeline", root, "-o", root / "logs" / "t.csv"],
                 ["timeline", root, "-o", tmp_path / "scenario-link.csv"],
                 ["analyze", root, "--junit", root / "scenario.yaml"],
                 ["analyze", root, "--leaks", tmp_path / "scenario-link.csv"],
                 ["analyze", root, "--json", root / "a.json"]):
        proc = subprocess.run([sys.executable, "-m", "ksaudit.cli", *map(str, args)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, (args, proc.stderr)
        assert "is evidence of the scenario" in proc.stderr, proc.stderr
        assert _digests(root) == before, args
