"""A neural model interpolated with the n-gram model of the same directory.

    P(w | h) = λ · P_neural(w | h) + (1 − λ) · P_ngram(w | h)

Linear interpolation of a recurrent model with a Kneser-Ney model is the classic
way to combine their strengths (Mikolov et al., 2011: the n-gram remembers rare
exact phrases, the recurrent model generalises); λ is tuned on the validation text
(``tune_weight`` in models/evaluation.py, at training time) and stored in the manifest.
Both parts keep their own states, so the mixture speaks the LM protocol and the
completion engine, scorer and state cache work unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from models.caches import BoundedCache
from models.lm import LanguageModel, Rows, State, TokenSet


def interpolate(a: np.ndarray, b: np.ndarray, weight: float,
                dtype: type = np.float64) -> np.ndarray:
    """ln(λ·e^a + (1 − λ)·e^b) entry by entry, in ``dtype``, for λ = ``weight``. Summed as
    probabilities: two exp and one log an entry, faster than ``np.logaddexp`` over a
    whole distribution (docs/operations.md, "Choices measured"); only where both parts
    underflow (below about e^-708 in float64, e^-87 in float32) is the sum taken in log
    space."""
    a, b = np.asarray(a, dtype), np.asarray(b, dtype)
    with np.errstate(divide="ignore", under="ignore"):
        p = np.exp(a)
        p *= dtype(weight)
        q = np.exp(b)
        q *= dtype(1.0 - weight)
        p += q
        out = np.log(p)
    tiny = p < np.finfo(dtype).tiny
    if tiny.any():
        log_1w = math.log1p(-weight) if weight < 1 else -math.inf
        out[tiny] = np.logaddexp(math.log(weight) + a[tiny], log_1w + b[tiny])
    return out


class MixtureLM(LanguageModel):
    """λ · neural + (1 − λ) · n-gram, normalised because both parts are."""

    def __init__(self, neural: LanguageModel, ngram: LanguageModel, weight: float,
                 cache_rows: int = 256):
        if not 0.0 < weight <= 1.0:
            raise ValueError(f"interpolation weight must be in (0, 1], not {weight}")
        self.neural, self.ngram, self.weight = neural, ngram, weight
        self.family = f"{neural.family}+ngram"
        self.vocab_size, self.bos_id, self.eos_id = neural.vocab_size, neural.bos_id, \
            neural.eos_id
        self.cache_rows = cache_rows
        self._rows: BoundedCache[State, np.ndarray] = BoundedCache(
            None, cache_rows, size=lambda state, row: row.nbytes)

    def start(self) -> State:
        """Both parts after <s>."""
        return (self.neural.start(), self.ngram.start())

    def advance(self, states: Sequence[State], ids: Sequence[int]) -> list[State]:
        """Both parts advanced, each in one batch."""
        neural = self.neural.advance([s[0] for s in states], ids)
        ngram = self.ngram.advance([s[1] for s in states], ids)
        return list(zip(neural, ngram, strict=True))

    def feed(self, state: State, ids: Sequence[int]) -> State:
        """Both parts over a run of tokens (the neural part in one pass)."""
        return (self.neural.feed(state[0], ids), self.ngram.feed(state[1], ids))

    def feed_batch(self, states: Sequence[State], runs: Sequence[Sequence[int]]) -> list[State]:
        """Both parts over each state's run (the neural part in one padded pass)."""
        neural = self.neural.feed_batch([s[0] for s in states], runs)
        ngram = self.ngram.feed_batch([s[1] for s in states], runs)
        return list(zip(neural, ngram, strict=True))

    def logprobs(self, states: Sequence[State]) -> np.ndarray:
        """The interpolated next-token log-probabilities, in float32: the neural part's
        own precision, and cheaper than float64 over a whole distribution. Scoring a text
        (``token_logprobs``) stays in float64. The last ``cache_rows`` rows are kept by
        state: the next keystroke of a word often searches from the same states
        (docs/operations.md, "Choices measured", has how often)."""
        rows: list[np.ndarray | None] = [self._rows.recall(s) for s in states]
        todo = [j for j, row in enumerate(rows) if row is None]
        if todo:
            fresh = interpolate(self.neural.logprobs([states[j][0] for j in todo]),
                                self.ngram.logprobs([states[j][1] for j in todo]),
                                self.weight, np.float32)
            for j, row in zip(todo, fresh, strict=True):
                rows[j] = self._rows[states[j]] = row.copy()  # not a view: frees ``fresh``
        return np.stack(rows)

    def rows(self, states: Sequence[State]) -> MixtureRows:
        """The interpolated distributions, computed only where they are read: a piece's
        log-probability from the two parts' entries, the mass of a set from the two
        parts' masses (a sum is linear: λ·mass_neural + (1 − λ)·mass_ngram)."""
        if not hasattr(self.ngram, "prob_rows"):
            return super().rows(states)
        return MixtureRows(self.neural.rows([s[0] for s in states]),
                           self.ngram.prob_rows([s[1] for s in states]), self.weight)

    def token_logprobs(self, ids: Sequence[int]) -> np.ndarray:
        """Per-token interpolated log-probabilities, from each part's fast scorer."""
        return interpolate(self.neural.token_logprobs(ids), self.ngram.token_logprobs(ids),
                           self.weight)

    def token_logprobs_batch(self, seqs: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Per-token interpolated log-probabilities of each sequence, each part batched."""
        return [interpolate(a, b, self.weight) for a, b in zip(
            self.neural.token_logprobs_batch(seqs), self.ngram.token_logprobs_batch(seqs),
            strict=True)]

    def nbytes(self) -> int:
        """Memory of both parts."""
        neural = sum(p.numel() * p.element_size() for p in self.neural.module.parameters()) \
            if hasattr(self.neural, "module") else 0
        return neural + (self.ngram.nbytes() if hasattr(self.ngram, "nbytes") else 0)


class MixtureRows(Rows):
    """λ·neural + (1 − λ)·n-gram, read in parts: ``take`` interpolates the pieces read, in
    float32 as ``MixtureLM.logprobs`` does; ``logmass`` adds the parts' masses."""

    def __init__(self, neural: Rows, ngram: list[np.ndarray], weight: float):
        self.neural, self.ngram, self.weight = neural, ngram, weight

    def __len__(self) -> int:
        return len(self.ngram)

    def __getitem__(self, part: slice) -> MixtureRows:
        return MixtureRows(self.neural[part], self.ngram[part], self.weight)

    def take(self, b: int, ids: np.ndarray | Sequence[int]) -> np.ndarray:
        a, q = self.neural.take(b, ids), self.ngram[b][ids]
        with np.errstate(divide="ignore", under="ignore"):
            p = np.exp(a)
            p *= np.float32(self.weight)
            p += (q * (1.0 - self.weight)).astype(np.float32)
            out = np.log(p)
        tiny = p < np.finfo(np.float32).tiny
        if tiny.any():  # both parts underflow in float32: the sum in log space
            with np.errstate(divide="ignore"):
                out[tiny] = np.logaddexp(math.log(self.weight) + a[tiny].astype(np.float64),
                                         np.log1p(-self.weight) + np.log(q[tiny]))
        return out

    def logmass(self, tokens: TokenSet) -> np.ndarray:
        neural = np.exp(self.neural.logmass(tokens))
        ngram = np.array([row @ tokens.mask for row in self.ngram])
        with np.errstate(divide="ignore"):
            return np.log(self.weight * neural + (1.0 - self.weight) * ngram)
