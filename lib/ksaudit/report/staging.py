"""Where a render writes: one render per output directory at a time, into a staging
directory of its own, swapped into place whole.

- `output_lock` holds an exclusive ``flock`` on ``<parent>/.<out>.lock`` for the whole
  render; a second render of the same output refuses with one line (a killed render's
  lock is released by the kernel with its process).
- `make_staging` creates ``<parent>/.<out>.partial-<pid>-<random>``: no other run (nor
  a stale worker of a killed one) writes there, and what killed renders left behind is
  removed first, under the lock.
- `swap_into_place` exchanges staging and output atomically (``renameat2``
  ``RENAME_EXCHANGE`` on Linux; two renames elsewhere) and removes the old build after.
- `check_separate` refuses an output directory that contains, or lies inside, an input.
"""

import contextlib
import ctypes
import errno
import fcntl
import os
import re
import secrets
import shutil

from ksaudit.errors import KsauditError
from ksaudit.report import hashing, summary as summ

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _os_error(out, exc, doing="cannot write the output here"):
    return KsauditError(f"{out}: {doing}: {exc.strerror or exc}")


@contextlib.contextmanager
def output_lock(out):
    """Hold the render lock of output directory `out` (a Path) for the with-block."""
    path = out.with_name(f".{out.name}.lock")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_error(out, exc) from None
    for _ in range(10):  # retried only when another render removed the file meanwhile
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise _os_error(out, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise KsauditError(f"{out}: another ksaudit render (pid {holder or '?'}) is writing "
                               "this output; wait for it to finish or choose another -o") from None
        try:
            same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    else:
        raise KsauditError(f"{out}: cannot take the render lock {path}")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still holding it: a waiting render re-checks the inode
        os.close(fd)


def _leftovers(out):
    """Staging and old directories of earlier renders of `out` (not of another build whose
    name merely starts the same)."""
    mine = re.compile(re.escape(f".{out.name}.") + r"(partial(-\d+-[0-9a-f]{8})?|old(-\d+)?)")
    return [p for p in out.parent.iterdir() if mine.fullmatch(p.name)]


def make_staging(out):
    """Remove what killed renders of `out` left, then create this run's staging directory.

    Call with the lock held.  Returns the new directory (mode as umask allows).
    """
    for stale in _leftovers(out):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                stale.unlink()
    work = out.with_name(f".{out.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        work.mkdir()
    except OSError as exc:
        raise _os_error(out, exc) from None
    return work


def check_replaceable(out):
    """The output directory is replaced as a whole: refuse unless it is empty or an
    earlier ksaudit build (a mistyped -o must never delete someone's files)."""
    if not os.path.lexists(out):
        return
    if out.is_symlink() or not out.is_dir():
        raise KsauditError(f"{out}: exists and is not a directory")
    if not any(out.iterdir()):
        return
    try:
        schema = summ.load_json(out / "summary.json").get("schema", "")
    except (KsauditError, AttributeError):
        schema = ""
    if not str(schema).startswith("ksaudit.summary/") or not (out / hashing.SUMS_NAME).is_file():
        raise KsauditError(f"{out}: exists and is not a build rendered by ksaudit; refusing to "
                           "replace it (choose another -o or remove it)")


def check_separate(out, inputs):
    """KsauditError unless `out` and every input path are disjoint (neither inside the other).

    Parameters
    ----------
    out : Path
        The resolved output directory (replaced as a whole by the render).
    inputs : iterable of (str, Path)
        What each input is (for the message) and its resolved path: the captures, each
        scenario directory, the notebooks, the signing key.
    """
    for what, path in inputs:
        if path == out or out in path.parents:
            raise KsauditError(f"{out}: the output directory holds the {what} {path}; a render "
                               "replaces its output as a whole and would delete it (choose another -o)")
        if path in out.parents:
            raise KsauditError(f"{out}: the output must not be inside the {what} {path} "
                               "(evidence is never written to)")


def _exchange(a, b):
    """Atomically exchange two paths (Linux renameat2); False when the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_into_place(work, out):
    """Replace `out` by `work`: one atomic exchange when possible, the old build removed after."""
    if os.path.lexists(out):
        if _exchange(work, out):
            shutil.rmtree(work)
            return
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        work.rename(out)
        shutil.rmtree(old)
    else:
        work.rename(out)
