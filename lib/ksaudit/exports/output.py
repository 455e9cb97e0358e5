"""Write an output file atomically: a reader (a CI gate, Timesketch) sees the old file or
the complete new one, never half of it, and a failed write leaves nothing behind.

`check_target` is for the command line: refuse a path that cannot be written before
any analysis or render runs, as one line.
"""

import os
import stat
import tempfile
from contextlib import contextmanager

from ksaudit.errors import KsauditError


def check_target(path, option):
    """KsauditError (one line naming `option` and `path`) unless a file can be made at `path`:
    it is not a directory, and its directory exists and is writable."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise KsauditError(f"{option} {path}: a directory, not a file name")
    if _write_through(path):
        return
    if not os.path.isdir(folder):
        raise KsauditError(f"{option} {path}: no such directory {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise KsauditError(f"{option} {path}: cannot write in {folder}")


def refuse_evidence(path, option, analysis):
    """KsauditError (one line) when `path` lies in the scenario directory of `analysis` or
    is one of the files it read, also through a symbolic link: writing there would change
    the evidence (a link to the capture being read was truncated while it was mapped)."""
    target = os.path.realpath(path)
    root = os.path.realpath(analysis.scenario.root)
    read = {os.path.realpath(analysis.scenario.path(i["path"])) for i in analysis.inputs}
    if target == root or target.startswith(root.rstrip(os.sep) + os.sep) or target in read:
        raise KsauditError(f"{option} {path}: is evidence of the scenario {root} (the "
                           "evidence is never written to); write outside it")


def _write_through(path) -> bool:
    """True for a symbolic link, FIFO or device at `path` (``/dev/stdout``, a link to a
    shared file): those are written into as they are, never replaced by a new file."""
    try:
        return os.path.islink(path) or not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


@contextmanager
def atomic_output(path):
    """A binary file object whose content replaces `path` when the block ends without error.

    The data goes to a hidden temporary file in the same directory (so the final rename
    cannot cross file systems), is flushed to disk, then renamed over `path`.  A
    symbolic link, FIFO or device at `path` is written into directly instead (renaming
    over it would replace the link or the device node itself).

    Raises
    ------
    KsauditError
        The file cannot be created or written (one line naming `path`).
    """
    path = os.fspath(path)
    if _write_through(path):
        try:
            with open(path, "wb") as fh:
                yield fh
        except BrokenPipeError:
            raise                           # a closed pipe is the reader's choice, not an error
        except OSError as exc:
            raise KsauditError(f"{path}: cannot write: {exc.strerror or exc}") from None
        return
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
