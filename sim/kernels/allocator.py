"""glibc's allocator, set for processes that run replications (its public ``mallopt`` and
``malloc_trim``; a no-op off glibc).

Every replication allocates and frees arrays of a few MB. Served by fresh ``mmap`` pages,
each costs a page fault per 4 KiB on first touch: a fifth of a replication's CPU time on
the default scenario. Kept on the heap, the pages are reused from one replication to the
next. The README's "Speed and scale" gives the measurement.
"""

from __future__ import annotations

import ctypes

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
_applied = False


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def keep_large_allocations_on_heap() -> None:
    """Serve allocations up to 256 MB from the heap and keep up to 512 MB of freed heap, in
    this process (and the ones it forks); once per process."""
    global _applied
    libc = _libc()
    if _applied or libc is None or not hasattr(libc, "mallopt"):
        return
    libc.mallopt(_M_MMAP_THRESHOLD, 256 << 20)
    libc.mallopt(_M_TRIM_THRESHOLD, 512 << 20)
    _applied = True


def release_free_memory() -> None:
    """Give freed heap memory back to the OS, so that a finished phase's peak does not stay
    (the heap keeps what it frees, see above)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
