"""Interpolated modified Kneser-Ney n-gram model over token ids.

Chen & Goodman (1998), with the conventions of KenLM's ``lmplz``: the highest
order uses raw counts, lower orders use continuation counts N1+(. w) except
for n-grams that begin with <s> (they have no left context and keep raw
counts), three discounts per order from the count-of-counts, and the unigram
distribution interpolated with the uniform one, so nothing has probability 0.

Storage is a forward trie in flat numpy arrays, one level per order::

    order k entries, sorted by (context entry at order k-1, word):
        words[k]   token id of the last word
        probs[k]   max(c - D(c), 0) / S(context)      the interpolated part
    order k entries that are contexts of order k+1 (all but the top order):
        offsets[k] children of entry j are order k+1 entries offsets[j]:offsets[j+1]
        gammas[k]  the weight given to the lower order after this context

so P(w | h) = probs[k][hw] + gammas[k-1][h] * P(w | h'), and the whole next-token
distribution of a context costs one dense vector and a few sparse additions.
The arrays are written as .npy files (loaded with ``allow_pickle=False``). They are
estimated by ``models/ngram_builder.py`` (counting, discounting, pruning, this layout);
this module only stores and queries them, and the service imports nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from models.caches import BoundedCache
from models.lm import LanguageModel, Rows, State, TokenSet


@dataclass
class NgramConfig:
    """How the n-gram model was built; stored in the manifest."""

    order: int = 5
    #: prune[k] = n-grams of order k+1 seen at most this many times are dropped
    #: (0 keeps everything; unigrams are never pruned)
    prune: list[int] = field(default_factory=list)


#: bytes of next-token rows an n-gram keeps (float64: 128 KB a row over 16K pieces, so 512 rows)
ROW_CACHE_BYTES = 64 << 20


class NgramModel(LanguageModel):
    """A trained n-gram model; states are tuples of the last ``order - 1`` ids."""

    family = "ngram"

    def __init__(self, config: NgramConfig, vocab_size: int, bos_id: int, eos_id: int,
                 arrays: dict[str, np.ndarray], cache_bytes: int = ROW_CACHE_BYTES,
                 counts: dict | None = None, discounts: dict | None = None):
        self.config, self.order = config, config.order
        # what the build found, kept for the manifest: entries and (D1, D2, D3+) by order
        self.counts, self.discounts = counts, discounts
        self.vocab_size, self.bos_id, self.eos_id = vocab_size, bos_id, eos_id
        self.unigram = np.array(arrays["unigram"], dtype=np.float64)  # not a np.memmap
        # plain ndarray views of the memory maps: the same pages, without np.memmap's
        # per-slice bookkeeping (docs/operations.md, "Choices measured")
        self.words = {k: np.asarray(arrays[f"words{k}"]) for k in range(2, self.order + 1)}
        self.probs = {k: np.asarray(arrays[f"probs{k}"]) for k in range(2, self.order + 1)}
        self.offsets = {k: np.asarray(arrays[f"offsets{k}"]) for k in range(1, self.order)}
        self.gammas = {k: np.asarray(arrays[f"gammas{k}"]) for k in range(1, self.order)}
        # whole rows by state, bounded in bytes: the same budget whatever the vocabulary
        self._cache: BoundedCache[State, np.ndarray] = BoundedCache(
            cache_bytes, size=lambda state, row: row.nbytes + 200)

    # --- storage ----------------------------------------------------------------
    def save(self, directory: Path) -> list[Path]:
        """Write the arrays (.npy) and ``ngram.json``; returns the files written."""
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {"unigram": self.unigram.astype(np.float32)}
        for k in range(2, self.order + 1):
            arrays[f"words{k}"], arrays[f"probs{k}"] = self.words[k], self.probs[k]
        for k in range(1, self.order):
            arrays[f"offsets{k}"], arrays[f"gammas{k}"] = self.offsets[k], self.gammas[k]
        written = []
        for name, array in arrays.items():
            path = directory / f"{name}.npy"
            np.save(path, np.ascontiguousarray(array), allow_pickle=False)
            written.append(path)
        meta = {"config": asdict(self.config), "vocab_size": self.vocab_size,
                "bos_id": self.bos_id, "eos_id": self.eos_id,
                "counts": self.counts, "discounts": self.discounts}
        (directory / "ngram.json").write_text(json.dumps(meta, indent=2))
        return [*written, directory / "ngram.json"]

    @classmethod
    def load(cls, directory: Path, cache_bytes: int = ROW_CACHE_BYTES) -> NgramModel:
        """Read a model written by ``save`` (never unpickles)."""
        meta = json.loads((directory / "ngram.json").read_text())
        config = NgramConfig(**meta["config"])
        names = ["unigram"] + [f"{a}{k}" for k in range(2, config.order + 1)
                               for a in ("words", "probs")]
        names += [f"{a}{k}" for k in range(1, config.order) for a in ("offsets", "gammas")]
        # memory-mapped: loading is instant, pages come in as queries touch them
        arrays = {name: np.load(directory / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                  for name in names}
        return cls(config, meta["vocab_size"], meta["bos_id"], meta["eos_id"], arrays,
                   cache_bytes, meta.get("counts"), meta.get("discounts"))

    def nbytes(self) -> int:
        """Memory held by the arrays."""
        parts = [self.unigram, *self.words.values(), *self.probs.values(),
                 *self.offsets.values(), *self.gammas.values()]
        return int(sum(a.nbytes for a in parts))

    # --- the protocol -------------------------------------------------------------
    def start(self) -> State:
        """The state after <s>."""
        return (self.bos_id,)

    def advance(self, states: Sequence[State], ids: Sequence[int]) -> list[State]:
        """Each state with one more id, keeping the last ``order - 1``."""
        keep = self.order - 1
        return [(*s, int(i))[-keep:] if keep else () for s, i in zip(states, ids, strict=True)]

    def _find(self, gram: Sequence[int]) -> int:
        """Entry index of ``gram`` at order ``len(gram)``, or -1 when it was never seen."""
        j = int(gram[0])
        for k in range(2, len(gram) + 1):
            lo, hi = self.offsets[k - 1][j], self.offsets[k - 1][j + 1]
            words = self.words[k]
            at = lo + int(np.searchsorted(words[lo:hi], gram[k - 1]))
            if at >= hi or words[at] != gram[k - 1]:
                return -1
            j = at
        return j

    def _contexts(self, history: Sequence[int]) -> Iterator[tuple[int, int, int, int]]:
        """``(k, j, lo, hi)`` for each order k >= 2 whose context (the last k-1 ids of
        ``history``) was seen: its entry j and its children's range at order k."""
        for k in range(2, self.order + 1):
            if len(history) < k - 1:
                return
            j = self._find(history[len(history) - (k - 1):])
            if j < 0:  # a longer context cannot have been seen either
                return
            yield k, j, self.offsets[k - 1][j], self.offsets[k - 1][j + 1]

    def _distribution(self, state: State) -> np.ndarray:
        """P(· | state): the unigram scaled by every back-off weight, then each order's
        seen words added, scaled by the weights of the orders above it (the same sums as
        scaling the whole row at every order, in one pass over it instead of one an order)."""
        seen = list(self._contexts(state))
        scale = [1.0] * (len(seen) + 1)  # scale[i]: product of the weights of orders past i
        for i in range(len(seen) - 1, -1, -1):
            k, j, _, _ = seen[i]
            scale[i] = scale[i + 1] * float(self.gammas[k - 1][j])
        p = self.unigram * scale[0]
        for i, (k, _, lo, hi) in enumerate(seen):
            p[self.words[k][lo:hi]] += np.multiply(self.probs[k][lo:hi], scale[i + 1],
                                                   dtype=np.float64)
        p.flags.writeable = False  # cached and shared: nobody may change it
        return p

    def prob_rows(self, states: Sequence[State]) -> list[np.ndarray]:
        """Whole next-token distributions as probabilities (float64, read-only), cached
        per state: the rows themselves, not copies."""
        out = []
        for state in states:
            row = self._cache.recall(state)
            if row is None:
                row = self._distribution(state)
                self._cache[state] = row
            out.append(row)
        return out

    def logprobs(self, states: Sequence[State]) -> np.ndarray:
        """Whole next-token distributions (natural log), cached per state."""
        rows = self.prob_rows(states)
        return np.log(np.stack(rows)) if rows else np.empty((0, self.vocab_size))

    def rows(self, states: Sequence[State]) -> ProbabilityRows:
        """The distributions of ``states``; only the pieces read are turned into logs."""
        return ProbabilityRows(self.prob_rows(states))

    def token_logprobs(self, ids: Sequence[int]) -> np.ndarray:
        """ln P of each token given what precedes it, without building whole distributions."""
        history, out = [self.bos_id], np.empty(len(ids), dtype=np.float64)
        for t, w in enumerate(ids):
            p = float(self.unigram[w])
            for k, j, lo, hi in self._contexts(history):
                at = lo + int(np.searchsorted(self.words[k][lo:hi], w))
                p *= float(self.gammas[k - 1][j])
                if at < hi and self.words[k][at] == w:
                    p += float(self.probs[k][at])
            out[t] = np.log(p)
            history.append(int(w))
        return out


class ProbabilityRows(Rows):
    """Rows kept as probabilities: a piece's log is taken when it is read, and the mass
    of a set is one dot product with its mask."""

    def __init__(self, rows: list[np.ndarray]):
        self.p = rows

    def __len__(self) -> int:
        return len(self.p)

    def __getitem__(self, part: slice) -> ProbabilityRows:
        return ProbabilityRows(self.p[part])

    def take(self, b: int, ids: np.ndarray | Sequence[int]) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.p[b][ids])

    def logmass(self, tokens: TokenSet) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(np.array([row @ tokens.mask for row in self.p]))
