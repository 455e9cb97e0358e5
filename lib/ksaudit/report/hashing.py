"""SHA-256 of files and the `SHA256SUMS` manifest (the format `sha256sum -c` reads).

Inside a rendered build and a scenario's evidence only regular files and directories
belong: `tree_entries` says what else is there (links, FIFOs, sockets, devices) without
opening or following it, and `list_files` refuses it.
"""

import os
import stat
from pathlib import Path

from ksaudit.digest import file_sha256
from ksaudit.errors import KsauditError
from ksaudit.safeio import check_name, kind_of, open_regular, unsafe_name

SUMS_NAME = "SHA256SUMS"
SIG_NAME = "SHA256SUMS.sig"  # its detached signature (report.signing), never listed in it


def sha256_file(path):
    """Hex SHA-256 of a regular file, never following a link (the digest `SHA256SUMS` lists)."""
    return file_sha256(path, follow=False)[1]


def tree_entries(root):
    """Everything under `root` as sorted (relative POSIX path, kind) pairs.

    Parameters
    ----------
    root : str or Path
        Directory to walk; nothing below it is opened, and symbolic links are
        reported, not followed.

    Returns
    -------
    list of (str, str)
        kind is "file", "dir" or, for anything else, what `safeio.kind_of` names it
        ("a symbolic link", "a FIFO", ...).
    """
    found = []

    def walk(directory, prefix):
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise KsauditError(f"{directory}: cannot list: {exc.strerror or exc}") from None
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            mode = entry.stat(follow_symlinks=False).st_mode
            kind = "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else kind_of(mode)
            found.append((rel, kind))
            if kind == "dir":
                walk(entry.path, rel + "/")

    walk(root, "")
    return sorted(found)


def list_files(root, exclude=()):
    """Every regular file under `root` as sorted POSIX paths relative to it.

    Parameters
    ----------
    root : str or Path
        Directory to walk.
    exclude : iterable of str
        Relative paths to leave out.

    Returns
    -------
    list of str

    Raises
    ------
    KsauditError
        For a symbolic link, FIFO, socket or device below `root`, or a name that cannot
        be listed one per line (a line break or control character in it).
    """
    skip = set(exclude)
    found = []
    for rel, kind in tree_entries(root):
        check_name(rel, str(root))
        if kind not in ("file", "dir"):
            raise KsauditError(f"{Path(root) / rel}: {kind}, not a regular file "
                               "(evidence and reports hold regular files only)")
        if kind == "file" and rel not in skip:
            found.append(rel)
    return found


def hash_tree(root, exclude=()):
    """Map every file under `root` (relative POSIX path) to its SHA-256.

    Parameters
    ----------
    root : str or Path
    exclude : iterable of str
        Relative paths to leave out.

    Returns
    -------
    dict of str to str, in sorted path order.
    """
    return {rel: sha256_file(Path(root) / rel) for rel in list_files(root, exclude)}


def format_sums(hashes):
    """The text of a SHA256SUMS file for `{relative path: hex}` (sorted, `sha256sum` style)."""
    return "".join(f"{digest}  {rel}\n" for rel, digest in sorted(hashes.items()))


def write_sums(root, exclude=()):
    """Hash every file under `root` and write `root/SHA256SUMS`.

    Parameters
    ----------
    root : str or Path
        A rendered report directory.
    exclude : iterable of str
        Further relative paths to leave out (SHA256SUMS and its signature always are).

    Returns
    -------
    dict of str to str
        What was written: relative path -> SHA-256.
    """
    hashes = hash_tree(root, exclude=(SUMS_NAME, SIG_NAME, *exclude))
    Path(root, SUMS_NAME).write_text(format_sums(hashes), encoding="utf-8")
    return hashes


def is_sha256(value):
    """True for 64 lower-case hex digits (how SHA256SUMS and summary.json record a hash)."""
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def is_relative(rel):
    """True for a non-empty relative POSIX path that stays below its root and fits on a line."""
    return (isinstance(rel, str) and bool(rel) and not rel.startswith("/")
            and ".." not in rel.split("/") and "" not in rel.split("/")
            and "." not in rel.split("/") and unsafe_name(rel) is None)


def read_sums(path):
    """Parse a SHA256SUMS file into `{relative path: hex}`.

    Raises KsauditError naming the file and line of anything malformed (a path given
    twice, leaving the directory, or holding a control character included); the file
    must be a regular file, not a link.
    """
    try:
        with open_regular(path, follow=False) as fh:
            text = fh.read().decode("utf-8")
    except KsauditError:
        if not os.path.lexists(path):
            raise KsauditError(f"{path}: no such file (not a rendered ksaudit build?)") from None
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise KsauditError(f"{path}: cannot read: {exc}") from None
    lines = text.split("\n")
    if lines[-1] != "":
        raise KsauditError(f"{path}:{len(lines)}: the last line does not end with a newline")
    sums = {}
    for lineno, line in enumerate(lines[:-1], 1):
        digest, sep, rel = line.partition("  ")
        if not sep or not is_sha256(digest) or not is_relative(rel):
            raise KsauditError(f"{path}:{lineno}: not a '<sha256>  <relative path>' line: {line[:80]!r}")
        if rel in sums:
            raise KsauditError(f"{path}:{lineno}: {rel!r} is listed twice")
        sums[rel] = digest
    return sums
