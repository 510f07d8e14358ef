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
The arrays are written as .npy files (loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
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


def _discounts(adjusted: np.ndarray) -> np.ndarray:
    """Modified Kneser-Ney discounts D1, D2, D3+ from count-of-counts (Chen & Goodman)."""
    n = [int(np.count_nonzero(adjusted == i)) for i in (1, 2, 3, 4)]
    if min(n) == 0:  # too little data for the estimate: a sane fixed choice
        return np.array([0.5, 1.0, 1.5])
    y = n[0] / (n[0] + 2 * n[1])
    d = np.array([1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2]])
    return np.clip(d, [0.05, 0.1, 0.15], [0.95, 1.9, 2.85])


def _stream(sentences: Iterable[Sequence[int]], bos: int, eos: int) -> tuple[np.ndarray, ...]:
    """All sentences as one stream ``<s> ids </s> <s> ...`` and each token's position."""
    chunks, positions = [], []
    for ids in sentences:
        chunks.append(np.asarray([bos, *ids, eos], dtype=np.int32))
        positions.append(np.arange(len(ids) + 2, dtype=np.int32))
    return np.concatenate(chunks), np.concatenate(positions)


#: bytes of next-token rows an n-gram keeps (float64: 128 KB a row over 16K pieces, so 512 rows)
ROW_CACHE_BYTES = 64 << 20


class NgramModel(LanguageModel):
    """A trained n-gram model; states are tuples of the last ``order - 1`` ids."""

    family = "ngram"

    def __init__(self, config: NgramConfig, vocab_size: int, bos_id: int, eos_id: int,
                 arrays: dict[str, np.ndarray], cache_bytes: int = ROW_CACHE_BYTES):
        self.config, self.order = config, config.order
        self.vocab_size, self.bos_id, self.eos_id = vocab_size, bos_id, eos_id
        self.unigram = np.array(arrays["unigram"], dtype=np.float64)  # not a np.memmap
        # plain ndarray views of the memory maps: the same pages, without np.memmap's
        # per-slice bookkeeping (a third of the time of a distribution)
        self.words = {k: np.asarray(arrays[f"words{k}"]) for k in range(2, self.order + 1)}
        self.probs = {k: np.asarray(arrays[f"probs{k}"]) for k in range(2, self.order + 1)}
        self.offsets = {k: np.asarray(arrays[f"offsets{k}"]) for k in range(1, self.order)}
        self.gammas = {k: np.asarray(arrays[f"gammas{k}"]) for k in range(1, self.order)}
        # whole rows by state, bounded in bytes: the same budget whatever the vocabulary
        self._cache: BoundedCache[State, np.ndarray] = BoundedCache(
            cache_bytes, size=lambda state, row: row.nbytes + 200)

    # --- building -------------------------------------------------------------
    @classmethod
    def train(cls, sentences: Iterable[Sequence[int]], vocab_size: int, bos_id: int,
              eos_id: int, config: NgramConfig | None = None) -> NgramModel:
        """Count and estimate a model from token-id sentences (without <s> and </s>)."""
        config = config or NgramConfig()
        n, V = config.order, vocab_size
        seq, pos = _stream(sentences, bos_id, eos_id)
        # idx[k][t]: entry of the k-gram that ends at position t (-1 where none)
        idx = {1: seq.astype(np.int64)}
        ctx, word, suffix = {}, {}, {}
        raw, at_bos = {1: np.bincount(seq[pos > 0], minlength=V)}, {}
        for k in range(2, n + 1):
            t = np.nonzero(pos >= k - 1)[0]
            keys, inv = np.unique(idx[k - 1][t - 1] * V + seq[t], return_inverse=True)
            ctx[k], word[k] = keys // V, (keys % V).astype(np.int32)
            raw[k] = np.bincount(inv, minlength=len(keys))
            suffix[k] = np.empty(len(keys), dtype=np.int64)
            suffix[k][inv] = idx[k - 1][t]  # the k-gram ending at t has the (k-1)-gram there
            at_bos[k] = np.zeros(len(keys), dtype=bool)
            at_bos[k][inv[pos[t] == k - 1]] = True
            idx[k] = np.full(len(seq), -1, dtype=np.int64)
            idx[k][t] = inv
            if k > 2:
                del idx[k - 1]  # only the previous order is needed to extend
        del idx, seq, pos
        # adjusted counts: continuation counts below the top order, raw counts at <s>
        adjusted = {n: raw[n]}
        for k in range(1, n):
            cont = np.bincount(suffix[k + 1], minlength=len(raw[k]))
            if k == 1:
                adjusted[1] = cont
            else:
                adjusted[k] = np.where(at_bos[k], raw[k], cont)
        discounts = {k: _discounts(adjusted[k][adjusted[k] > 0]) for k in range(1, n + 1)}

        def discounted(k: int) -> np.ndarray:
            c, d = adjusted[k], discounts[k]
            return np.where(c >= 3, c - d[2], np.where(c == 2, c - d[1], c - d[0])).clip(0)

        # unigram: interpolated with the uniform distribution
        total = adjusted[1].sum()
        disc1 = np.where(adjusted[1] > 0, discounted(1), 0.0)
        unigram = disc1 / total + (1 - disc1.sum() / total) / V
        arrays: dict[str, np.ndarray] = {"unigram": unigram.astype(np.float32)}
        keep = {1: np.ones(V, dtype=bool)}
        for k in range(2, n + 1):
            limit = config.prune[k - 1] if len(config.prune) >= k else 0
            keep[k] = keep[k - 1][ctx[k]] & (raw[k] > limit)
        for k in range(2, n + 1):
            parents = len(keep[k - 1])
            mass = discounted(k) / np.maximum(
                np.bincount(ctx[k], weights=adjusted[k], minlength=parents)[ctx[k]], 1)
            kept_mass = np.bincount(ctx[k][keep[k]], weights=mass[keep[k]], minlength=parents)
            # gamma = 1 - kept mass: exactly normalised, pruned mass goes to the lower order
            gammas = (1.0 - kept_mass)[keep[k - 1]]
            new_index = np.cumsum(keep[k - 1]) - 1
            children_ctx = new_index[ctx[k][keep[k]]]
            arrays[f"gammas{k - 1}"] = gammas.astype(np.float32)
            offsets = np.searchsorted(children_ctx, np.arange(len(gammas) + 1))
            arrays[f"offsets{k - 1}"] = offsets.astype(
                np.int32 if len(children_ctx) < 2**31 else np.int64)
            arrays[f"words{k}"] = word[k][keep[k]].astype(np.uint16 if V <= 65535 else np.int32)
            arrays[f"probs{k}"] = mass[keep[k]].astype(np.float32)
        model = cls(config, V, bos_id, eos_id, arrays)
        model.discounts = {k: d.tolist() for k, d in discounts.items()}
        model.counts = {k: int(keep[k].sum()) for k in range(1, n + 1)}
        return model

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
                "counts": getattr(self, "counts", None),
                "discounts": getattr(self, "discounts", None)}
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
        model = cls(config, meta["vocab_size"], meta["bos_id"], meta["eos_id"], arrays,
                    cache_bytes)
        model.counts, model.discounts = meta.get("counts"), meta.get("discounts")
        return model

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
            row = self._cache.get(state)
            if row is None:
                row = self._distribution(state)
                self._cache[state] = row
            else:
                self._cache.move_to_end(state)
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
