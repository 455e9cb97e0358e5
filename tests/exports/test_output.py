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
