"""models/memory.py: freed arrays are reused, not faulted in from the kernel again.

Measured by the minor page faults of a loop like a keystroke's (a few 16K-piece float64
distributions and their temporaries), each case in a fresh process: the malloc settings
are process-wide and cannot be undone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOOP = """
import resource, numpy as np
a = np.random.default_rng(0).random((4, {width}))
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range({rounds}):
    np.log(0.75 * np.exp(a) + 0.25 * np.exp(a))
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(setup: str, width: int = 16000, rounds: int = 200) -> int:
    code = setup + LOOP.format(width=width, rounds=rounds)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def test_freed_arrays_are_reused():
    default = faults("")
    kept = faults("from models.memory import keep_freed_memory\nassert keep_freed_memory()\n")
    assert kept * 5 < default, (kept, default)


def test_the_service_keeps_freed_memory_unless_told_not_to(model_dir):
    start = ("from app.settings import Settings\nfrom app.metrics import Metrics\n"
             "from app.service import ModelService\n"
             f"s = Settings(model_dir=r'{model_dir}', keep_freed_memory={{}})\n"
             "ModelService(s, Metrics()).start(background=False)\n")
    # loading the models has already raised glibc's own (dynamic) threshold as far as it
    # goes, 32 MiB: arrays of 45 MB tell the service's setting from glibc's default
    on, off = (faults(start.format(flag), width=1_400_000, rounds=20) for flag in (True, False))
    assert on * 5 < off, (on, off)
