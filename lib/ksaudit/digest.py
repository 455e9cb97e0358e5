"""SHA-256 of evidence and report files: one reader for analysis and reports alike."""

import hashlib
import os

from ksaudit.errors import KsauditError

_CHUNK = 1 << 20


def file_sha256(path) -> tuple:
    """(size in bytes, hex SHA-256) of a file, opened read-only and read once.

    Parameters
    ----------
    path : str or Path
        A regular file.

    Returns
    -------
    tuple of (int, str)
        The byte count and 64 lower-case hex digits.
    """
    digest = hashlib.sha256()
    size = 0
    try:
        fd = os.open(path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as fh:
            for block in iter(lambda: fh.read(_CHUNK), b""):
                digest.update(block)
                size += len(block)
    except OSError as exc:
        raise KsauditError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return size, digest.hexdigest()
