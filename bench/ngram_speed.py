"""How fast the n-gram model loads and gives whole next-token distributions.

    python bench/ngram_speed.py --model models-data/nsmc [--file ../shared/data/nsmc/test.txt]

Prints the load time (with and without the sha256 check of every file), the
time of one whole distribution over the vocabulary for contexts taken from real
text (uncached, then cached), and the same for the token-by-token scorer.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from models.loading import load_model
from models.ngram import NgramModel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--file", type=Path, help="text for contexts (default: built-in sentences)")
    ap.add_argument("--contexts", type=int, default=2000)
    args = ap.parse_args()
    for verify in (False, True):
        t0 = time.perf_counter()
        m = load_model(args.model, "ngram", verify=verify)
        print(f"load {'with' if verify else 'without'} sha256 check: "
              f"{time.perf_counter() - t0:.3f} s")
    lm: NgramModel = m.engine.lm  # type: ignore[assignment]
    print(f"order {lm.order}, vocabulary {lm.vocab_size}, arrays {lm.nbytes() / 1e6:.0f} MB")
    lines = (args.file.read_text(encoding="utf-8").splitlines() if args.file else
             ["나는 밥을 먹었다", "오늘 영화 정말 재밌었다 ㅋㅋ", "I really liked the movie"] * 50)
    states = []
    for ids in m.engine.tok.encode_batch(lines[: args.contexts]):
        state = lm.start()
        for i in ids:
            states.append(state)
            state = lm.advance([state], [i])[0]
    states = states[: args.contexts]
    for label in ("uncached", "cached"):
        if label == "uncached":
            lm._cache.clear()
        times = []
        for s in states:
            t0 = time.perf_counter()
            lm.logprobs([s])
            times.append((time.perf_counter() - t0) * 1e6)
        q = statistics.quantiles(times, n=100)
        print(f"whole distribution ({label}): p50 {q[49]:.0f} us  p99 {q[98]:.0f} us  "
              f"({len(times)} contexts)")
    ids = [i for t in m.engine.tok.encode_batch(lines[:200]) for i in t]
    t0 = time.perf_counter()
    lm.token_logprobs(ids)
    print(f"scoring: {(time.perf_counter() - t0) / len(ids) * 1e6:.1f} us a token")


if __name__ == "__main__":
    main()
