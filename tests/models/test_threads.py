"""The numeric libraries' threads: one per model thread, and the CPUs a process may use."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

CHILD = """
import os, sys
sys.path.insert(0, {root!r})
os.sched_setaffinity(0, {{min(os.sched_getaffinity(0))}})  # as a 1-CPU cpuset would
import numpy, torch
from threadpoolctl import threadpool_info
from models.threads import limit_threads, usable_cpus
print(usable_cpus(), os.cpu_count())
limit_threads(1)
print(torch.get_num_threads(), sorted({{p["num_threads"] for p in threadpool_info()}}))
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_one_cpu_of_many_and_one_thread_in_every_pool():
    done = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT))],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    cpus, torch_and_pools = done.stdout.splitlines()
    assert cpus.split()[0] == "1"  # the affinity, whatever os.cpu_count() says
    assert torch_and_pools == "1 [1]"  # torch, and every BLAS/OpenMP pool numpy loaded
