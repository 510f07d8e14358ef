"""The cost of one keystroke for several models, measured side by side in one process.

    python bench/keystroke_latency.py models-data/nsmc-gru:gru+ngram \
        models-data/nsmc-gru8k:gru+ngram

Each model answers the same requests (3 suggestions) in turn, request by request, so a
busy moment of this shared machine falls on all of them alike: for every word of the
shared benchmark's sample, the context before it, then with its first one and two
characters typed. Prints p50 / p95 / p99 in ms and each model's ratio to the first.
Each engine keeps its state cache, as the service does, so a key reuses the state of the
context before it.

With ``--typists N`` (N > 1), each model is then measured under concurrency, in process,
without HTTP: N typists (threads) each type their own sentences key by key, every
request waiting for its answer before the next (a closed loop), all served by the model's
``StepScheduler`` as in the service (``models/batching.py``). Prints requests a second,
latency p50/p99 and the model states a round. Models run one after another here, so
their ratios are noisier than the alternated figures above.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from models.batching import StepScheduler  # noqa: E402
from models.evaluation import sample_sentences, typed_before  # noqa: E402
from models.loading import load_model  # noqa: E402
from models.memory import keep_freed_memory  # noqa: E402
from models.threads import limit_threads  # noqa: E402

NSMC_TEST = ROOT.parent / "shared" / "data" / "nsmc" / "test.txt"


def requests(lines: list[str], sentences: int, seed: int) -> list[str]:
    """What is typed before each word, and with its first one and two characters."""
    out = []
    for ws in sample_sentences(lines, sentences, seed):
        for i, w in enumerate(ws):
            ctx = typed_before(ws, i)
            out += [ctx, ctx + w[:1], *([ctx + w[:2]] if len(w) > 1 else [])]
    return out


def concurrent(engine, streams: list[list[str]], seconds: float) -> dict[str, float]:
    """Every stream typed by its own thread against one scheduler for ``seconds``."""
    scheduler = StepScheduler(engine.lm, "bench")
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    def typist(texts: list[str]) -> None:
        for text in texts * 100:
            if time.perf_counter() > stop_at:
                return
            t0 = time.perf_counter()
            scheduler.submit(engine.search_complete, text, 3, 1).result()
            latencies.append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=typist, args=(texts,)) for texts in streams]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    scheduler.close()
    f = scheduler.figures
    p50, p99 = np.percentile(latencies, [50, 99])
    return {"per_s": len(latencies) / wall, "p50": p50, "p99": p99,
            "states_a_round": f.batched_states / max(f.rounds, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", metavar="DIR:FAMILY",
                    help="a model directory and the family to serve from it")
    ap.add_argument("--file", type=Path, default=NSMC_TEST)
    ap.add_argument("--sentences", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--typists", type=int, default=1,
                    help="then also this many concurrent typists in process (see above)")
    ap.add_argument("--seconds", type=float, default=20.0,
                    help="length of each model's concurrent run")
    args = ap.parse_args()
    keep_freed_memory()  # as the service does: its latency figures mean the same
    limit_threads(1)  # one torch and BLAS thread, as the service runs a model
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
    if args.typists > 1:
        streams: list[list[str]] = [[] for _ in range(args.typists)]
        for j, ws in enumerate(sample_sentences(lines, max(args.sentences, args.typists),
                                                args.seed)):
            streams[j % args.typists] += [typed_before(ws, i) + w[:n] for i, w in enumerate(ws)
                                          for n in range(min(len(w), 2) + 1)]
        print(f"{args.typists} typists at once, in process, {args.seconds:.0f} s each model:")
        for spec, engine in engines:
            c = concurrent(engine, streams, args.seconds)
            print(f"{spec}: {c['per_s']:.0f} requests/s, p50 {c['p50']:.1f} ms, "
                  f"p99 {c['p99']:.1f} ms, {c['states_a_round']:.0f} states a round")
    return 0


if __name__ == "__main__":
    sys.exit(main())
