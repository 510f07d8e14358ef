"""The one protocol every language model family speaks.

A model has a *state* that summarises the tokens it has read (the n-gram's last
n-1 ids, the recurrent model's hidden tensors), a way to advance a batch of
states by one token each, and the next-token log-probabilities of a batch of
states: natural log, normalised over the whole vocabulary, never -inf. The
completion engine, the scorer, the evaluator and the service see nothing else.

States are immutable and hashable where they can be (the n-gram's tuples), so
they can be cached; a state is never changed in place by ``advance``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

State = Any


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

    def feed(self, state: State, ids: Sequence[int]) -> State:
        """``state`` advanced over a run of tokens (a recurrent model does it in one pass)."""
        for i in ids:
            state = self.advance([state], [i])[0]
        return state

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
