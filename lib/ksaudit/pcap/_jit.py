"""numba set-up shared by the packet engine: one `jit` decorator with on-disk caching.

Compiled code is cached next to the sources (``__pycache__``) or, when that is not
writable, in numba's user-wide cache (``NUMBA_CACHE_DIR`` or ``~/.cache``).  When no
cache location is writable at all, functions still compile, only on every start.
"""

import numba


def jit(fn):
    """Compile ``fn`` in nopython mode, cached on disk when possible."""
    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return numba.njit(nogil=True)(fn)


@jit
def u16(buf, p, big):
    if big:
        return (numba.int64(buf[p]) << 8) | numba.int64(buf[p + 1])
    return numba.int64(buf[p]) | (numba.int64(buf[p + 1]) << 8)


@jit
def u32(buf, p, big):
    a = numba.int64(buf[p])
    b = numba.int64(buf[p + 1])
    c = numba.int64(buf[p + 2])
    d = numba.int64(buf[p + 3])
    if big:
        return (a << 24) | (b << 16) | (c << 8) | d
    return a | (b << 8) | (c << 16) | (d << 24)
