"""How many threads the numeric libraries may use: one model thread, one core's worth.

The service runs each model in one thread of its own and answers many requests at once
by batching them (``models/batching.py``); a numeric library that starts threads of its
own inside a call only fights that thread and the event loop for the cores. OpenBLAS
does: on the 2-core machine this project is measured on, with the other core busy, a
dot product of two 16K-long rows took 6 ms with numpy's default OpenBLAS threads and
2 µs with one (``python -c`` timing, ``OPENBLAS_NUM_THREADS=1`` against unset). So the
service caps BLAS (through threadpoolctl, which works after numpy is imported, unlike
the environment variables) and torch alike.
"""

from __future__ import annotations

import os
import sys


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity (what a container's cpuset or
    ``taskset`` leaves it), not every CPU of the host as ``os.cpu_count()`` says."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def limit_threads(threads: int, torch_too: bool = True) -> None:
    """At most ``threads`` threads in BLAS and OpenMP pools, and in torch if it is loaded
    (or ``torch_too``: then it is imported, which takes seconds)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    if not torch_too and "torch" not in sys.modules:
        return
    try:
        import torch
    except ImportError:
        return
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
