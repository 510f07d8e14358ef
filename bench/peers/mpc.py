"""Most-popular-completion (MPC): the word-frequency prefix suggester of search boxes.

Trained from a text file split on whitespace, one sentence per line.

* ``unigram``: the k most frequent words that start with the prefix.
* ``bigram``: the most frequent followers of the previous word that start with the
  prefix (the start of the line counts as a previous word), then unigram fill-in.

Prefixes match by plain ``str.startswith`` as in a search box, which is not
jamo-aware (머 does not offer 먹다). With ``--jamo`` Hangul matches by keystrokes,
the rule of ``models.hangul.can_become``: the index is keyed by
``models.hangul.keys(word)``, so the words in a prefix range of the index are
exactly those ``can_become(typed, word)`` accepts (``--selfcheck`` verifies it).

``probability`` is the relative frequency in the table a word came from (P(w | prev)
for a follower, P(w) for unigram fill-in); the list order is the ranking.

    python bench/peers/mpc.py --train ../shared/data/nsmc/train.txt --mode bigram --port 8101
"""

from __future__ import annotations

import argparse
import gc
import heapq
import random
import sys
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.peers.serve import serve, split_text  # noqa: E402
from models.hangul import can_become, keys  # noqa: E402

SEP = "\x00"  # between the previous word and the follower's key in the bigram index
CACHE_MIN = 64  # prefix ranges larger than this get their top list precomputed
CACHE_K = 16  # length of a precomputed top list


def _after(prefix: str) -> str:
    """The smallest string greater than every string that starts with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class PrefixTopK:
    """Entries sorted by a key string; the most frequent entries under any key prefix.

    A query bisects the key range of the prefix; ranges larger than ``CACHE_MIN``
    have their ``CACHE_K`` best entries precomputed, smaller ones are ranked on the fly.
    """

    def __init__(self, entries: Iterable[tuple[str, str, int]], roots: Iterable[str] = ("",)):
        """``entries``: (key, word, count); ``roots``: where precomputed prefixes start."""
        items = sorted(entries)
        self.keys = [key for key, _, _ in items]
        self.words = [word for _, word, _ in items]
        self.counts = [count for _, _, count in items]
        order = sorted(range(len(items)), key=lambda i: (-self.counts[i], self.words[i]))
        self.rank = [0] * len(items)  # position in (count desc, word) order: smaller is better
        for r, i in enumerate(order):
            self.rank[i] = r
        self.top: dict[str, list[int]] = {}
        for root in roots:
            self._precompute(root)

    def span(self, prefix: str, lo: int = 0, hi: int | None = None) -> tuple[int, int]:
        """Index range of the keys that start with ``prefix``."""
        hi = len(self.keys) if hi is None else hi
        if not prefix:
            return lo, hi
        return (bisect_left(self.keys, prefix, lo, hi),
                bisect_left(self.keys, _after(prefix), lo, hi))

    def _precompute(self, root: str) -> None:
        stack = [(root, *self.span(root))]
        while stack:
            prefix, lo, hi = stack.pop()
            if hi - lo <= CACHE_MIN:
                continue
            self.top[prefix] = heapq.nsmallest(CACHE_K, range(lo, hi), key=self.rank.__getitem__)
            d = len(prefix)
            i = bisect_left(self.keys, prefix + "\x01", lo, hi)  # skip the key equal to prefix
            while i < hi:
                child = self.keys[i][: d + 1]
                j = bisect_left(self.keys, _after(child), i, hi)
                stack.append((child, i, j))
                i = j

    def best(self, prefix: str, k: int, skip: frozenset[str] = frozenset()) -> list[int]:
        """Indices of the ``k`` most frequent entries under ``prefix``, ``skip`` words left out."""
        top = self.top.get(prefix)
        if top is not None and k + len(skip) <= CACHE_K:
            cand: Iterable[int] = top
        else:
            lo, hi = self.span(prefix)
            cand = heapq.nsmallest(k + len(skip), range(lo, hi), key=self.rank.__getitem__)
        return [i for i in cand if self.words[i] not in skip][:k]


class MPC:
    """Most-popular completion over whitespace words, unigram or bigram."""

    def __init__(self, lines: Iterable[str], mode: str = "bigram", jamo: bool = False):
        """Count words (and word pairs in bigram mode) in ``lines``."""
        self.mode, self.jamo = mode, jamo
        self.key: Callable[[str], str] = keys if jamo else str
        uni: Counter[str] = Counter()
        bi: Counter[tuple[str, str]] = Counter()
        for line in lines:
            words = line.split()
            uni.update(words)
            if mode == "bigram":
                bi.update(zip(["", *words], words, strict=False))  # "" = start of line
        self.total = max(sum(uni.values()), 1)
        key_of = {w: self.key(w) for w in uni}
        self.unigram = PrefixTopK((key_of[w], w, c) for w, c in uni.items())
        self.prev_total: Counter[str] = Counter()
        prevs: set[str] = set()
        for (prev, _), c in bi.items():
            self.prev_total[prev] += c
            prevs.add(prev)
        self.bigram = PrefixTopK(
            ((prev + SEP + key_of[w], w, c) for (prev, w), c in bi.items()),
            roots=[prev + SEP for prev in prevs],
        )

    def complete(self, text: str, k: int) -> list[tuple[str, float]]:
        """Up to ``k`` (word, probability) for what the user has typed, best first."""
        before, prefix = split_text(text)
        key = self.key(prefix)
        out: list[tuple[str, float]] = []
        if self.mode == "bigram":
            prev = before[-1] if before else ""
            n_prev = self.prev_total.get(prev, 0)
            for i in self.bigram.best(prev + SEP + key, k) if n_prev else []:
                out.append((self.bigram.words[i], self.bigram.counts[i] / n_prev))
        seen = frozenset(w for w, _ in out)
        for i in self.unigram.best(key, k - len(out), seen) if len(out) < k else []:
            out.append((self.unigram.words[i], self.unigram.counts[i] / self.total))
        return out


def selfcheck(model: MPC, n: int, seed: int = 0) -> None:
    """Compare ``n`` random prefix queries with a brute-force scan of the vocabulary.

    The scan uses ``can_become`` with ``--jamo`` and ``str.startswith`` without it.
    """
    rng = random.Random(seed)
    uni = model.unigram
    for _ in range(n):
        word = uni.words[rng.randrange(len(uni.words))]
        typed = rng.choice([word[:1], word[: max(1, len(word) // 2)]])
        if model.jamo:  # or a last syllable still being typed: only its first key so far
            typed = rng.choice([typed, word[:-1] + keys(word[-1])[:1]])
            hits = [i for i, w in enumerate(uni.words) if can_become(typed, w)]
        else:
            hits = [i for i, w in enumerate(uni.words) if w.startswith(typed)]
        want = sorted(hits, key=uni.rank.__getitem__)[:3]
        got = uni.best(model.key(typed), 3)
        if [uni.words[i] for i in got] != [uni.words[i] for i in want]:
            raise SystemExit(f"selfcheck failed for {typed!r}: {got} != {want}")
    print(f"selfcheck: {n} prefixes agree with the brute-force scan", file=sys.stderr)


def main() -> None:
    """Command line: train, then serve the contract."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True, type=Path, help="UTF-8 text, one sentence a line")
    ap.add_argument("--mode", choices=["unigram", "bigram"], default="bigram")
    ap.add_argument("--jamo", action="store_true",
                    help="match Hangul by keystrokes (models.hangul.can_become)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8101)
    ap.add_argument("--selfcheck", type=int, default=0, metavar="N",
                    help="check N random prefixes against a brute-force scan first")
    args = ap.parse_args()

    t0 = time.perf_counter()
    with args.train.open(encoding="utf-8") as f:
        model = MPC(f, args.mode, args.jamo)
    print(f"mpc {args.mode}{' jamo' if args.jamo else ''}: {len(model.unigram.words)} words, "
          f"{len(model.bigram.words)} word pairs, trained in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr, flush=True)
    if args.selfcheck:
        selfcheck(model, args.selfcheck)
    gc.collect()
    gc.freeze()  # millions of long-lived objects: keep full collections from scanning them
    serve(model.complete, args.host, args.port, "mpc")


if __name__ == "__main__":
    main()
