"""SHA-256 of evidence and report files: one reader for analysis and reports alike."""

import hashlib

from ksaudit.errors import KsauditError
from ksaudit.safeio import open_regular

_CHUNK = 1 << 20


def file_sha256(path, follow=True) -> tuple:
    """(size in bytes, hex SHA-256) of a file, opened read-only and read once.

    Parameters
    ----------
    path : str or Path
        A regular file (anything else, a FIFO included, is a KsauditError, never opened
        for reading).
    follow : bool
        Follow a symbolic link at `path` (False inside a build or its evidence).

    Returns
    -------
    tuple of (int, str)
        The byte count and 64 lower-case hex digits.
    """
    digest = hashlib.sha256()
    size = 0
    with open_regular(path, follow=follow) as fh:
        try:
            for block in iter(lambda: fh.read(_CHUNK), b""):
                digest.update(block)
                size += len(block)
        except OSError as exc:
            raise KsauditError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return size, digest.hexdigest()
