"""Keep the memory that numpy and torch free for reuse, instead of handing it back to
the kernel at once.

A keystroke builds a few next-token distributions of 16K entries (64-128 KB a row) and
their temporaries. glibc's malloc maps every block above its threshold (128 KB to
start with) fresh from the kernel and unmaps it when freed, and gives back the top of
its heap above 128 KB free: each keystroke faulted the same pages in again. With both
thresholds raised, freed blocks are reused. The cost is that the process keeps its peak
memory (bounded here by the models and the state caches). The same as ``make nsmc``'s
``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``, set from inside the process.
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 1 << 30  # blocks up to 1 GiB come from the heap
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int: about 2 GiB


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; whether it took them
    (False where the C library is not glibc, e.g. musl or macOS)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and \
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
