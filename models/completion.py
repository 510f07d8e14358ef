"""From next-token log-probabilities to whole words: the completion engine.

    typed text ─ split ─► context | partial word
    context ─ tokenizer ─► ids ─ state cache (longest cached prefix) ─► model state
    beam search over pieces that agree, keystroke by keystroke, with the partial
    word, to a word boundary ─► [(word, log P)]

A word's probability is the probability of its pieces followed by a word
boundary (a piece that starts with ▁, or the end of the sentence). Only the
tokenizer's own segmentation of a word counts, so every word has one
probability, the same one ``word_logprob`` gives. The partial word may end
inside a piece (``먹`` typed, ``▁먹었다`` in the vocabulary) and its last syllable
may be half-typed (``머`` → ``먹었다``): pieces are matched on keystrokes, see
``models/hangul.py``.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from models import hangul
from models.batching import Search, run_alone
from models.caches import BoundedCache
from models.lm import LanguageModel, Rows, State, TokenSet
from models.tokenizer import Tokenizer


@dataclass(frozen=True)
class Completion:
    """A whole word (or phrase) that replaces the partial word, with its log-probability."""

    text: str
    log_prob: float

    @property
    def probability(self) -> float:
        """P(text | context), between 0 and 1."""
        return math.exp(self.log_prob)


@dataclass(frozen=True)
class TextScore:
    """ln P of a whole text (end of sentence included) and its per-token parts."""

    log_prob: float
    tokens: list[tuple[str, float]]
    chars: int

    @property
    def bits_per_char(self) -> float:
        """−log2 P over the characters, the end of sentence counted as one."""
        return -self.log_prob / math.log(2) / (self.chars + 1)

    @property
    def perplexity(self) -> float:
        """Per-token perplexity."""
        return math.exp(-self.log_prob / max(len(self.tokens), 1))


@dataclass(frozen=True)
class _Hyp:
    logp: float
    ids: tuple[int, ...]  # pieces after the context
    words: tuple[str, ...]  # finished words of the phrase
    word: str  # the word being built
    word_ids: tuple[int, ...]
    started: bool
    state: State


def split_text(text: str) -> tuple[str, str]:
    """``(context, partial word)``: the partial word is what follows the last whitespace."""
    cut = len(text)
    while cut > 0 and not text[cut - 1].isspace():
        cut -= 1
    return text[:cut], text[cut:]


class CompletionEngine:
    """Word completion and scoring over any ``LanguageModel``."""

    def __init__(self, tokenizer: Tokenizer, lm: LanguageModel, beam_size: int = 12,
                 max_word_pieces: int = 6, cache_size: int = 20000,
                 max_context_chars: int = 400, cache_bytes: int = 256 << 20):
        self.tok, self.lm = tokenizer, lm
        self.beam_size, self.max_word_pieces = beam_size, max_word_pieces
        self.max_context_chars = max_context_chars
        # the state cache, bounded in bytes (a neural state holds its next-token
        # log-probabilities: 64 KB with 16K pieces) as well as in entries
        self._cache: BoundedCache[tuple[int, ...], State] = BoundedCache(cache_bytes,
                                                                          cache_size)
        self._cache_size = cache_size
        self.cache_hits = self.cache_misses = 0
        texts = tokenizer.piece_text
        self._keys = [None if t is None else hangul.keys(t) for t in texts]
        self._boundary = TokenSet([i for i in range(tokenizer.vocab_size)
                                   if tokenizer.starts_word[i] or i == tokenizer.eos_id],
                                  tokenizer.vocab_size)
        self._by_kind: dict[bool, dict[str, list[int]]] = {True: {}, False: {}}
        self._all: dict[bool, np.ndarray] = {}
        for starts in (True, False):
            ids = [i for i, t in enumerate(texts) if t is not None
                   and tokenizer.starts_word[i] == starts and (t or starts)]
            self._all[starts] = np.array(ids, dtype=np.int64)
            for i in ids:
                self._by_kind[starts].setdefault(self._keys[i], []).append(i)
        # the keys of each kind in order: those that start with some keys are a range
        self._sorted = {starts: sorted((self._keys[i], i) for i in self._all[starts].tolist()
                                       if self._keys[i]) for starts in (True, False)}
        self._sorted_keys = {starts: [k for k, _ in pairs]
                             for starts, pairs in self._sorted.items()}
        # The memo tables hold what the vocabulary makes, not what was typed: no piece
        # tells apart keys still to match beyond one more than the longest piece's, so
        # they are cut there, and no word the engine completes has more keys than
        # ``max_word_keys`` (a longer typed word has no completion: see models/limits.py).
        self._piece_keys = max((len(k) for k in self._keys if k), default=0)
        self.max_word_keys = max_word_pieces * self._piece_keys
        self._allowed_memo = lru_cache(maxsize=8192)(self._allowed_uncached)
        self._allowed = lambda rest, starts: self._allowed_memo(rest[: self._piece_keys + 1],
                                                                starts)
        self._canonical = lru_cache(maxsize=65536)(lambda w: tuple(self.tok.encode(w)))

    # --- states -----------------------------------------------------------------
    def context_ids(self, context: str) -> tuple[int, ...]:
        """Token ids of the context (whitespace collapsed, cut from the left to a word)."""
        words = context.split()
        text = " ".join(words)
        if len(text) > self.max_context_chars:
            text = text[-self.max_context_chars:]
            text = text[text.find(" ") + 1:] if " " in text else text
        return tuple(self.tok.encode(text)) if text else ()

    def state(self, ids: tuple[int, ...], use_cache: bool = True) -> State:
        """The model state after <s> and ``ids``: the longest cached prefix, advanced
        over the ids that are new."""
        return run_alone(self.lm, self.search_state(ids, use_cache))

    def search_state(self, ids: tuple[int, ...], use_cache: bool = True) -> Search:
        """``state`` as a search (see ``models/batching.py``): the run over the new ids is
        one need, served by the model thread."""
        if not use_cache:
            return (yield ("feed", [self.lm.start()], [ids]))[0]
        for n in range(len(ids), -1, -1):
            state = self._cache.get(ids[:n])
            if state is not None:
                self._cache.move_to_end(ids[:n])
                break
        else:
            n, state = 0, self.lm.start()
        if n == len(ids):
            self.cache_hits += 1
            return state
        self.cache_misses += 1
        state = (yield ("feed", [state], [ids[n:]]))[0]  # batched with other requests' runs
        self._remember(ids, state)
        return state

    def _remember(self, ids: tuple[int, ...], state: State) -> None:
        self._cache[ids] = state
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    # --- completion ---------------------------------------------------------------
    def _allowed_uncached(self, rest: str, starts: bool) -> np.ndarray:
        """Pieces of a kind whose keys agree with the keys still to match."""
        if not rest:
            return self._all[starts]
        exact = self._by_kind[starts]
        ids = [i for n in range(1, len(rest)) for i in exact.get(rest[:n], ())]  # rest goes on
        keys = self._sorted_keys[starts]  # ...or the piece's keys go on past rest
        lo, hi = bisect_left(keys, rest), bisect_left(keys, rest + "\U0010ffff")
        ids += [i for _, i in self._sorted[starts][lo:hi]]
        if starts:
            ids += exact.get("", [])  # "▁" alone consumes nothing
        return np.array(sorted(ids), dtype=np.int64)

    def complete(self, text: str, k: int = 5, max_words: int = 1,
                 use_cache: bool = True) -> list[Completion]:
        """The ``k`` most likely words (phrases of up to ``max_words``) that complete ``text``,
        best first. A text that is empty or ends in whitespace asks for the next word."""
        return run_alone(self.lm, self.search_complete(text, k, max_words, use_cache))

    def search_complete(self, text: str, k: int = 5, max_words: int = 1,
                        use_cache: bool = True) -> Search:
        """``complete`` as a search: it yields what it needs of the model (a feed, the
        next-token log-probabilities of its beam, the beam's next states) and returns the
        completions, so that one model thread can serve many at once
        (``models/batching.py``)."""
        context, partial = split_text(text)
        ctx = self.context_ids(context)
        typed = hangul.keys(partial)
        start = yield from self.search_state(ctx, use_cache)
        live = [_Hyp(0.0, (), (), "", (), False, start)]
        finished: dict[str, float] = {}
        for _ in range(self.max_word_pieces * max_words + 1):
            if not live:
                break
            rows = yield ("rows", [h.state for h in live])
            ends = rows.logmass(self._boundary)  # ln P(a word boundary next)
            cands: list[tuple[float, _Hyp, int, bool]] = []
            for b, h in enumerate(live):
                first = not h.words
                done = h.started and (not first or hangul.keys(h.word).startswith(typed))
                if done and self._canonical(h.word) == h.word_ids:
                    phrase = " ".join((*h.words, h.word))
                    if len(h.words) + 1 >= max_words:
                        finished[phrase] = max(finished.get(phrase, -np.inf), h.logp + ends[b])
                    else:  # the sentence may end here, or go on with another word
                        eos = h.logp + float(rows.take(b, [self.tok.eos_id])[0])
                        finished[phrase] = max(finished.get(phrase, -np.inf), eos)
                        cands += self._top(h, rows, b, self._all[True], new_word=True)
                if len(h.word_ids) >= self.max_word_pieces:
                    continue
                rest = ""
                if first:
                    wk = hangul.keys(h.word)
                    rest = typed[len(wk):] if typed.startswith(wk) else ""
                cands += self._top(h, rows, b, self._allowed(rest, not h.started),
                                   new_word=False)
            # a hypothesis only loses probability as it grows: one below the k-th
            # finished word can never overtake it
            ranked = sorted(finished.values(), reverse=True)
            floor = ranked[k - 1] if len(ranked) >= k else -np.inf
            cands = sorted((c for c in cands if c[0] > floor), key=lambda c: -c[0])
            live = yield from self._extend(ctx, cands[: self.beam_size], use_cache)
        best = sorted(finished.items(), key=lambda kv: -kv[1])[:k]
        return [Completion(w, float(lp)) for w, lp in best]

    def _top(self, h: _Hyp, rows: Rows, b: int, allowed: np.ndarray,
             new_word: bool) -> list[tuple[float, _Hyp, int, bool]]:
        """The best ``beam_size`` one-piece extensions of ``h`` (row ``b``) among
        ``allowed``: only those pieces of the distribution are read."""
        if len(allowed) == 0:
            return []
        scores = rows.take(b, allowed)
        if len(allowed) > self.beam_size:
            part = np.argpartition(-scores, self.beam_size)[: self.beam_size]
        else:
            part = np.arange(len(allowed))
        return [(h.logp + float(scores[j]), h, int(allowed[j]), new_word) for j in part]

    def _extend(self, ctx: tuple[int, ...], chosen: list[tuple[float, _Hyp, int, bool]],
                use_cache: bool) -> Search:
        """The chosen extensions as hypotheses, their new states computed in one batch
        (or taken from the state cache, where the last keystroke left them)."""
        keys = [(*ctx, *h.ids, token) for _, h, token, _ in chosen]
        states = [self._cache.get(key) if use_cache else None for key in keys]
        todo = [j for j, s in enumerate(states) if s is None]
        if todo:
            new = yield ("advance", [chosen[j][1].state for j in todo],
                         [chosen[j][2] for j in todo])
            for j, s in zip(todo, new, strict=True):
                states[j] = s
                if use_cache:
                    self._remember(keys[j], s)
        out = []
        for (logp, h, token, new_word), state in zip(chosen, states, strict=True):
            text = self.tok.piece_text[token] or ""
            ids = (*h.ids, token)
            if new_word:
                out.append(_Hyp(logp, ids, (*h.words, h.word), text, (token,), True, state))
            else:
                out.append(_Hyp(logp, ids, h.words, h.word + text, (*h.word_ids, token), True,
                                state))
        return out

    # --- probabilities ------------------------------------------------------------
    def word_logprob(self, text: str, next_words: str) -> float:
        """ln P(next_words followed by a word boundary | text), text taken as whole words."""
        return run_alone(self.lm, self.search_word_logprob(text, next_words))

    def search_word_logprob(self, text: str, next_words: str) -> Search:
        """``word_logprob`` as a search: one model step a piece."""
        words = next_words.split()
        if not words:
            raise ValueError("next must contain at least one word")
        state = yield from self.search_state(self.context_ids(text))
        total = 0.0
        for w in words:
            for t in self.tok.encode(w):
                total += float((yield ("rows", [state])).take(0, [t])[0])
                state = (yield ("advance", [state], [t]))[0]
        total += float((yield ("rows", [state])).logmass(self._boundary)[0])
        return total

    def score(self, text: str) -> TextScore:
        """ln P(text as a complete sentence, end included), with its per-token parts."""
        ids = [*self.tok.encode(text), self.tok.eos_id] if text else [self.tok.eos_id]
        parts = self.lm.token_logprobs(ids)
        pieces = [self.tok.id_to_piece(i) for i in ids]
        return TextScore(float(parts.sum()), [(p, float(v)) for p, v in zip(pieces, parts,
                                                                          strict=True)],
                         len(text))
