"""Write an output file atomically: a reader (a CI gate, Timesketch) sees the old file or
the complete new one, never half of it, and a failed write leaves nothing behind.

`check_target` is for the command line: refuse a path that cannot be written before
any analysis or render runs, as one line.
"""

import os
import tempfile
from contextlib import contextmanager

from ksaudit.errors import KsauditError


def check_target(path, option):
    """KsauditError (one line naming `option` and `path`) unless a file can be made at `path`:
    its directory exists and is writable, and `path` is not a directory."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise KsauditError(f"{option} {path}: a directory, not a file name")
    if not os.path.isdir(folder):
        raise KsauditError(f"{option} {path}: no such directory {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise KsauditError(f"{option} {path}: cannot write in {folder}")


@contextmanager
def atomic_output(path):
    """A binary file object whose content replaces `path` when the block ends without error.

    The data goes to a hidden temporary file in the same directory (so the final rename
    cannot cross file systems), is flushed to disk, then renamed over `path`.

    Raises
    ------
    KsauditError
        The file cannot be created or written (one line naming `path`).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".part",
                                   dir=folder)
    except OSError as exc:
        raise KsauditError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise KsauditError(f"{path}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(tmp):
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
