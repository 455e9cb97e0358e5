"""Open input files only when they are regular files, and keep file names manifest-safe.

A FIFO given as a capture, a log or a manifest would block a plain ``open`` forever; a
device or a directory would be read as garbage or fail with an internal error.
`open_regular` opens without blocking (``O_NONBLOCK``), optionally without following a
symbolic link (``O_NOFOLLOW``), and checks with ``fstat`` on the open descriptor that it
is a regular file before anything is read.  `unsafe_name` tells which names cannot be
written one per line into SHA256SUMS, the changelog snippet or verify's output.
"""

import os
import stat
import unicodedata

from ksaudit.errors import KsauditError

# every character str.splitlines() breaks a line at, and the other C0/C1 controls
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def kind_of(mode):
    """A short name for a file type, for messages: 'a FIFO', 'a directory', ..."""
    for test, name in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path, follow=True):
    """Open `path` for binary reading if it is a regular file.

    Parameters
    ----------
    path : str or os.PathLike
    follow : bool
        Follow a symbolic link at the last component (user-named inputs); False for
        files inside a rendered build or a scenario's evidence, where a link is refused.

    Returns
    -------
    file object (binary, read-only)

    Raises
    ------
    KsauditError
        One line naming the path: missing, unreadable, or not a regular file (a FIFO,
        a directory, a device, a socket, or with ``follow=False`` a symbolic link).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow and os.path.islink(path):
            raise KsauditError(f"{path}: a symbolic link, not a regular file") from None
        raise KsauditError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise KsauditError(f"{path}: {kind_of(mode)}, not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def unsafe_name(name):
    """The first character of `name` that breaks a line-based manifest, or None.

    Line breaks of any kind (``\\n``, ``\\x85``, ``\\u2028``, ...), other control
    characters, and text that cannot be written as UTF-8 (undecodable bytes in a file
    name) are refused.
    """
    for ch in str(name):
        if ch in _LINE_BREAKS or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            return ch
    return None


def check_name(name, where):
    """KsauditError (one line, the name shown escaped) when `unsafe_name(name)`."""
    ch = unsafe_name(name)
    if ch is not None:
        raise KsauditError(f"{where}: the name {str(name)!r} holds {ch!r}, which cannot be "
                           "listed in a line-based manifest (SHA256SUMS); rename it")


def shown(path):
    """`path` as text fit for one output line: escaped (repr) when it holds unsafe characters."""
    text = os.fspath(path)
    return repr(text) if unsafe_name(text) is not None else text
