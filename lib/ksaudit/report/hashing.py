"""SHA-256 of files and the `SHA256SUMS` manifest (the format `sha256sum -c` reads)."""

import os
from pathlib import Path

from ksaudit.digest import file_sha256
from ksaudit.errors import KsauditError

SUMS_NAME = "SHA256SUMS"


def sha256_file(path):
    """Hex SHA-256 of a file (the digest `SHA256SUMS` lists)."""
    return file_sha256(path)[1]


def list_files(root, exclude=()):
    """Every regular file under `root` as sorted POSIX paths relative to it.

    Parameters
    ----------
    root : str or Path
        Directory to walk (symbolic links to directories are not followed).
    exclude : iterable of str
        Relative paths to leave out.

    Returns
    -------
    list of str
    """
    root = Path(root)
    skip = set(exclude)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            full = Path(dirpath) / name
            if not full.is_file():
                continue
            rel = full.relative_to(root).as_posix()
            if rel not in skip:
                found.append(rel)
    return sorted(found)


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


def write_sums(root):
    """Hash every file under `root` and write `root/SHA256SUMS`.

    Parameters
    ----------
    root : str or Path
        A rendered report directory.

    Returns
    -------
    dict of str to str
        What was written: relative path -> SHA-256.
    """
    hashes = hash_tree(root, exclude=(SUMS_NAME,))
    Path(root, SUMS_NAME).write_text(format_sums(hashes), encoding="utf-8")
    return hashes


def is_sha256(value):
    """True for 64 lower-case hex digits (how SHA256SUMS and summary.json record a hash)."""
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def read_sums(path):
    """Parse a SHA256SUMS file into `{relative path: hex}`.

    Raises KsauditError naming the file and line of anything malformed.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KsauditError(f"{path}: no such file (not a rendered ksaudit build?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KsauditError(f"{path}: cannot read: {exc}") from None
    sums = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        digest, sep, rel = line.partition("  ")
        if not sep or not is_sha256(digest) or not rel or rel.startswith("/") or ".." in Path(rel).parts:
            raise KsauditError(f"{path}:{lineno}: not a '<sha256>  <relative path>' line: {line[:80]!r}")
        sums[rel] = digest
    return sums
