"""The cost of one keystroke for several models, measured side by side in one process.

    python bench/keystroke_latency.py models-data/nsmc-gru:gru+ngram \
        models-data/nsmc-gru8k:gru+ngram

Each model answers the same requests (3 suggestions) in turn, request by request, so a
busy moment of this shared machine falls on all of them alike: for every word of the
shared benchmark's sample, the context before it, then with its first one and two
characters typed. Prints p50 / p95 / p99 in ms and each model's ratio to the first.
Each engine keeps its state cache, as the service does, so a key reuses the state of the
context before it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.evaluation import sample_sentences, typed_before  # noqa: E402
from models.loading import load_model  # noqa: E402
from models.memory import keep_freed_memory  # noqa: E402

NSMC_TEST = ROOT.parent / "shared" / "data" / "nsmc" / "test.txt"


def requests(lines: list[str], sentences: int, seed: int) -> list[str]:
    """What is typed before each word, and with its first one and two characters."""
    out = []
    for ws in sample_sentences(lines, sentences, seed):
        for i, w in enumerate(ws):
            ctx = typed_before(ws, i)
            out += [ctx, ctx + w[:1], *([ctx + w[:2]] if len(w) > 1 else [])]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", metavar="DIR:FAMILY",
                    help="a model directory and the family to serve from it")
    ap.add_argument("--file", type=Path, default=NSMC_TEST)
    ap.add_argument("--sentences", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    keep_freed_memory()  # as the service does: its latency figures mean the same
    if not args.file.is_file():
        ap.error(f"--file {args.file} is absent")
    engines = []  # a list: the same model twice is an A/A check of the noise
    for spec in args.models:
        directory, sep, family = spec.rpartition(":")
        if not sep or not directory:
            ap.error(f"{spec!r}: expected DIR:FAMILY, e.g. models-data/nsmc-gru:gru+ngram")
        engines.append((spec, load_model(Path(directory), family).engine))
    lines = [x for x in args.file.read_text(encoding="utf-8").split("\n") if x.strip()]
    texts = requests(lines, args.sentences, args.seed)
    ms: list[list[float]] = [[] for _ in engines]
    for text in texts:
        for (_, engine), times in zip(engines, ms, strict=True):
            t0 = time.perf_counter()
            engine.complete(text, k=3)
            times.append((time.perf_counter() - t0) * 1000)
    base = float(np.median(ms[0]))
    print(f"{len(texts)} requests each ({args.sentences} sentences, seed {args.seed}), "
          "models alternated request by request")
    for (spec, _), t in zip(engines, ms, strict=True):
        p50, p95, p99 = np.percentile(t, [50, 95, 99])
        print(f"{spec}: p50 {p50:.1f} ms  p95 {p95:.1f}  p99 {p99:.1f}  "
              f"({p50 / base:.2f}x the first at the median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
