"""The one protocol every language model family speaks.

A model has a *state* that summarises the tokens it has read (the n-gram's last
n-1 ids, the recurrent model's hidden tensors), a way to advance a batch of
states by one token each, and the next-token log-probabilities of a batch of
states: natural log, normalised over the whole vocabulary, never -inf. The
completion engine, the scorer, the evaluator and the service see nothing else.

States are immutable and hashable where they can be (the n-gram's tuples), so
they can be cached; a state is never changed in place by ``advance``.

A search does not need whole distributions: the beam reads a few dozen pieces of each
(those that agree with the typed keys) and one sum (the mass of the word boundaries).
``rows(states)`` gives the distributions as ``Rows`` that compute only what is read; a
model whose distributions are cheaper in parts (the n-gram's probabilities, the mixture
of two models) says so by its own ``Rows``, the rest use ``logprobs``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

State = Any


class TokenSet:
    """A fixed set of token ids (the word boundaries, say), as ids and as a 0/1 mask, so
    that a model can sum a distribution over it as it finds cheapest."""

    def __init__(self, ids: Sequence[int], vocab_size: int):
        self.ids = np.asarray(sorted(set(ids)), dtype=np.int64)
        self.mask = np.zeros(vocab_size, dtype=np.float64)
        self.mask[self.ids] = 1.0
        self.mask32 = self.mask.astype(np.float32)


def logsumexp_rows(rows: np.ndarray) -> np.ndarray:
    """ln Σ exp over the last axis, shifted by each row's maximum (no overflow)."""
    m = rows.max(axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        return (m + np.log(np.exp(rows - m).sum(axis=-1, keepdims=True))).squeeze(-1)


class Rows:
    """Next-token log-probabilities of a batch of states, read in parts: ``take`` some
    pieces of one row, ``logmass`` of a set for every row. This one holds whole rows."""

    def __init__(self, logprobs: np.ndarray):
        self.lp = logprobs

    def __len__(self) -> int:
        return len(self.lp)

    def __getitem__(self, part: slice) -> Rows:
        return Rows(self.lp[part])

    def take(self, b: int, ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """ln P(ids | state b)."""
        return self.lp[b, ids]

    def logmass(self, tokens: TokenSet) -> np.ndarray:
        """ln P(any of ``tokens`` | state) for every state."""
        return logsumexp_rows(self.lp[:, tokens.ids])


class LanguageModel(ABC):
    """Base class of the n-gram, window and recurrent models."""

    #: short family name used in the manifest and the API ("ngram", "lstm", ...)
    family: str = "lm"
    vocab_size: int
    bos_id: int
    eos_id: int

    @abstractmethod
    def start(self) -> State:
        """The state after the beginning-of-sentence marker."""

    @abstractmethod
    def advance(self, states: Sequence[State], ids: Sequence[int]) -> list[State]:
        """Each state advanced over one token: ``states[i]`` reads ``ids[i]``."""

    @abstractmethod
    def logprobs(self, states: Sequence[State]) -> np.ndarray:
        """Next-token log-probabilities, shape ``(len(states), vocab_size)``, natural log."""

    def rows(self, states: Sequence[State]) -> Rows:
        """The next-token distributions of ``states``, computed as far as they are read."""
        return Rows(self.logprobs(states))

    def feed(self, state: State, ids: Sequence[int]) -> State:
        """``state`` advanced over a run of tokens (a recurrent model does it in one pass)."""
        for i in ids:
            state = self.advance([state], [i])[0]
        return state

    def feed_batch(self, states: Sequence[State], runs: Sequence[Sequence[int]]) -> list[State]:
        """Each state fed its own run of tokens (a recurrent model pads them into one pass)."""
        return [self.feed(s, r) for s, r in zip(states, runs, strict=True)]

    def token_logprobs(self, ids: Sequence[int]) -> np.ndarray:
        """ln P(ids[j] | <s> ids[:j]) for every j: the per-token parts of a text's score.

        The caller appends the end-of-sentence id when it scores a whole sentence.
        """
        state, out = self.start(), np.empty(len(ids), dtype=np.float64)
        for j, i in enumerate(ids):
            out[j] = self.logprobs([state])[0, i]
            state = self.advance([state], [i])[0]
        return out

    def token_logprobs_batch(self, seqs: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """``token_logprobs`` of each sequence; a neural model scores them in batches."""
        return [self.token_logprobs(ids) for ids in seqs]
