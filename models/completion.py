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
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from models import hangul
from models.batching import Search, run_alone
from models.bpc import nats_to_bpc, sentence
from models.caches import BoundedCache
from models.lm import LanguageModel, Rows, State, TokenSet
from models.readings import (
    EVERY,
    PieceIndex,
    Pool,
    Readings,
    agrees,
    alternative,
    initials_key,
    merge,
)
from models.tokenizer import Tokenizer


@dataclass(frozen=True)
class Completion:
    """A whole word (or phrase) that replaces the partial word, with its log-probability.

    ``match``: how it matched what was typed (``models/readings.py``): ``exact``,
    ``initials``, ``layout`` or ``typo``; for all but ``exact``, ``log_prob`` holds the
    reading's penalty too (ln P of the word and of such a mistake). ``context``: the text
    before the word as it was read, when that was not as typed (Latin letters read as
    Hangul), else None."""

    text: str
    log_prob: float
    match: str = "exact"
    context: str | None = None

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
        return nats_to_bpc(-self.log_prob, self.chars + 1)

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
    reads: tuple[int, ...] = (0,)  # the patterns of its reading it still agrees with


def _kth(pools: list[Pool], k: int) -> float:
    """The k-th best score (ln P + penalty) of the words the pools finished, or -inf."""
    ranked = sorted((lp + pool.cost for pool in pools for lp in pool.finished.values()),
                    reverse=True)
    return ranked[k - 1] if len(ranked) >= k else -np.inf


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
                 max_context_chars: int = 400, cache_bytes: int = 256 << 20,
                 readings: Readings = EVERY):
        self.tok, self.lm = tokenizer, lm
        self.readings = readings  # what a search reads the typed keys as, unless told
        self.beam_size, self.max_word_pieces = beam_size, max_word_pieces
        self.max_context_chars = max_context_chars
        # the state cache, bounded in bytes (a neural state holds its next-token
        # log-probabilities: 64 KB with 16K pieces) as well as in entries
        self._cache: BoundedCache[tuple[int, ...], State] = BoundedCache(cache_bytes,
                                                                          cache_size)
        self.cache_hits = self.cache_misses = 0
        texts = tokenizer.piece_text
        self._boundary = TokenSet([i for i in range(tokenizer.vocab_size)
                                   if tokenizer.starts_word[i] or i == tokenizer.eos_id],
                                  tokenizer.vocab_size)
        # The pieces by their keystrokes, and by their initials (ㅅㄱ). The memo tables hold
        # what the vocabulary makes, not what was typed (see PieceIndex), and no word the
        # engine completes has more keys than ``max_word_keys`` (a longer typed word has
        # no completion: see models/limits.py).
        self._exact = PieceIndex(texts, tokenizer.starts_word, hangul.keys)
        self._initials = PieceIndex(texts, tokenizer.starts_word, initials_key)
        self._all, self._piece_keys = self._exact.all, self._exact.longest
        self._allowed, self._allowed_memo = self._exact.allowed, self._exact.memo
        self._allowed_uncached = self._exact.allowed_uncached
        self.max_word_keys = max_word_pieces * self._piece_keys
        self._layout_memo: dict[tuple[tuple[int, ...], tuple[int, ...]], bool] = {}
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
            state = self._cache.recall(ids[:n])
            if state is not None:
                break
        else:
            n, state = 0, self.lm.start()
        if n == len(ids):
            self.cache_hits += 1
            return state
        self.cache_misses += 1
        state = (yield ("feed", [state], [ids[n:]]))[0]  # batched with other requests' runs
        self._cache[ids] = state
        return state

    # --- completion ---------------------------------------------------------------
    def complete(self, text: str, k: int = 5, max_words: int = 1,
                 use_cache: bool = True, readings: Readings | None = None,
                 adapt: Callable[..., Rows] | None = None) -> list[Completion]:
        """The ``k`` most likely words (phrases of up to ``max_words``) that complete ``text``,
        best first. A text that is empty or ends in whitespace asks for the next word.
        ``readings``: which other readings of the typed keys are tried
        (``models/readings.py``; the engine's own by default). ``adapt(rows, context ids,
        each hypothesis's ids)`` may wrap the rows the search reads (a user's model mixed
        in: ``models/personal.py``)."""
        return run_alone(self.lm, self.search_complete(text, k, max_words, use_cache,
                                                       readings=readings, adapt=adapt))

    def search_complete(self, text: str, k: int = 5, max_words: int = 1,
                        use_cache: bool = True, readings: Readings | None = None,
                        adapt: Callable[..., Rows] | None = None) -> Search:
        """``complete`` as a search: it yields what it needs of the model (a feed, the
        next-token log-probabilities of its beam, the beam's next states) and returns the
        completions, so that one model thread can serve many at once
        (``models/batching.py``).

        Besides the keys as typed, the partial word's other reading under ``readings``
        (the engine's own by default) is searched with a beam of its own
        (``models/readings.py``): initials and layout in the same model calls, a typo
        after the literal search and only if its words could still show; a context typed
        in Latin letters is read as Hangul when that is more likely. The literal reading's
        words are those it would find alone; another reading's word has ln P plus its
        penalty."""
        readings = self.readings if readings is None else readings
        context, partial = split_text(text)
        ctx, read_context = self.context_ids(context), None
        if readings.layout and (as_hangul := hangul.from_latin(context)) is not None:
            hctx = self.context_ids(as_hangul)
            if (yield from self._reads_as_hangul(ctx, hctx, readings.layout_cost)):
                ctx, read_context = hctx, as_hangul
        start = yield from self.search_state(ctx, use_cache)
        root = _Hyp(0.0, (), (), "", (), False, start)
        pools = [Pool("exact", (hangul.keys(partial),), self._exact, hangul.keys, 0.0,
                      self.beam_size, [root])]
        alt = alternative(partial, readings, self.max_word_pieces * self._initials.longest)
        if alt is not None:
            index, key = ((self._initials, initials_key) if alt.kind == "initials"
                          else (self._exact, hangul.keys))
            every = tuple(range(len(alt.patterns)))
            pools.append(Pool(alt.kind, alt.patterns, index, key, alt.cost,
                              alt.beam or self.beam_size,
                              [] if alt.kind == "typo" else [replace(root, reads=every)],
                              trunk=pools[0] if alt.kind == "typo" else None))
        # A typo waits for the literal search: a word one key away shows only above its
        # k-th word, penalty paid, and is less likely than the literal hypothesis it
        # branches off, so it is searched only from those that leave it room (for most
        # keystrokes typed right, none).
        later = pools.pop() if pools[-1].trunk is not None else None
        for _ in range(2 * (self.max_word_pieces * max_words + 1)):
            if later is not None and not pools[0].live:
                low = _kth(pools, k) - later.cost
                pools[0].seen = [h for h in pools[0].seen if h.logp > low]
                if pools[0].seen:
                    pools.append(later)
                later = None
            elif later is not None:
                pools[0].seen += [h for h in pools[0].live if not h.words]
            # a state two readings' hypotheses share (the same pieces) is read once
            row_of: dict[int, int] = {}
            live: list[_Hyp] = []
            for h in (h for pool in pools for h in (*pool.live, *pool.branching())):
                if id(h.state) not in row_of:
                    row_of[id(h.state)] = len(live)
                    live.append(h)
            if not live:
                break
            rows = yield ("rows", [h.state for h in live])
            if adapt is not None:  # no model call of its own: batching is unchanged
                rows = adapt(rows, ctx, [h.ids for h in live])
            ends = rows.logmass(self._boundary)  # ln P(a word boundary next)
            chosen = []
            for pool in pools:
                # a hypothesis only loses probability as it grows: one below the k-th
                # finished word can never overtake it (the literal reading's floor is its
                # own, so that its words are those it finds alone)
                chosen.append(self._step(pool, rows, ends, row_of, max_words,
                                         lambda pool: _kth(pools if pool.cost else [pool], k)
                                         - pool.cost))
            new = yield from self._extend(ctx, [c for part in chosen for c in part], use_cache)
            for pool, part in zip(pools, chosen, strict=True):
                pool.live, new = new[: len(part)], new[len(part):]
        return [Completion(w, float(lp), kind, read_context) for w, lp, kind in merge(pools, k)]

    def _step(self, pool: Pool, rows: Rows, ends: np.ndarray, row_of: dict[int, int],
              max_words: int, floor: Callable[[Pool], float]
              ) -> list[tuple[float, _Hyp, int, bool, tuple[int, ...]]]:
        """One round of a reading's beam (hypothesis h is row ``row_of[id(h.state)]``): the
        words it finishes, and its best extensions, each with the patterns it still
        agrees with. A reading that branches off the literal one (a typo: the keys are
        right up to the wrong one) also takes the literal hypotheses' extensions that
        leave the keys as typed for one of its patterns."""
        cands: list[tuple[float, _Hyp, int, bool]] = []
        rests: dict[int, list[str]] = {}
        reads_of: dict[int, tuple[int, ...]] = {id(h): h.reads for h in pool.live}
        for h in pool.branching():  # once, from every literal hypothesis of the first word
            if len(h.word_ids) >= self.max_word_pieces:
                continue
            wk = pool.key(h.word)  # a prefix of typed: the wrong key is still ahead
            reads = tuple(r for r, p in enumerate(pool.patterns) if p.startswith(wk))
            if not reads:
                continue
            rest = rests[id(h)] = pool.rests(wk, reads)
            reads_of[id(h)] = reads
            typed = pool.trunk.patterns[0]
            allowed = np.setdiff1d(pool.allowed(rest, not h.started),
                                   pool.index.allowed(typed[len(wk):], not h.started),
                                   assume_unique=True)
            cands += self._top(h, rows, row_of[id(h.state)], allowed, new_word=False)
        pool.branched = True
        for h in pool.live:
            b = row_of[id(h.state)]
            first = not h.words
            wk = pool.key(h.word) if first else ""
            done = h.started and (not first or any(wk.startswith(pool.patterns[r])
                                                   for r in h.reads))
            if done and self._canonical(h.word) == h.word_ids:
                phrase = " ".join((*h.words, h.word))
                if len(h.words) + 1 >= max_words:
                    pool.finished[phrase] = max(pool.finished.get(phrase, -np.inf),
                                                h.logp + ends[b])
                else:  # the sentence may end here, or go on with another word
                    eos = h.logp + float(rows.take(b, [self.tok.eos_id])[0])
                    pool.finished[phrase] = max(pool.finished.get(phrase, -np.inf), eos)
                    cands += self._top(h, rows, b, self._all[True], new_word=True)
            if len(h.word_ids) >= self.max_word_pieces:
                continue
            rest = rests[id(h)] = pool.rests(wk, h.reads) if first else [""]
            cands += self._top(h, rows, b, pool.allowed(rest, not h.started), new_word=False)
        low = floor(pool)
        cands = sorted((c for c in cands if c[0] > low), key=lambda c: -c[0])
        out = []
        for logp, h, token, new_word in cands[: pool.beam]:
            reads = reads_of[id(h)]
            if len(reads) > 1 and not new_word and not h.words:  # those the piece agrees with
                pk = pool.index.keys[token] or ""
                reads = tuple(r for r, rest in zip(reads, rests[id(h)], strict=True)
                              if agrees(rest, pk, not h.started))
            out.append((logp, h, token, new_word, reads))
        return out

    def _reads_as_hangul(self, ctx: tuple[int, ...], hctx: tuple[int, ...],
                         cost: float) -> Search:
        """Whether a context typed in Latin letters (``ctx``) is read as the Hangul its
        keys spell (``hctx``): ln P(Hangul) + ``cost`` > ln P(Latin), each scored from the
        start (two runs of the model, remembered for the keystrokes that follow). Never
        when the Hangul holds more pieces (the context's token limit was checked on the
        Latin)."""
        if not ctx or len(hctx) > len(ctx):
            return False
        if (ctx, hctx) not in self._layout_memo:
            latin = yield ("call", self._prefix_logprob, ctx)
            korean = yield ("call", self._prefix_logprob, hctx)
            if len(self._layout_memo) >= 4096:
                self._layout_memo.pop(next(iter(self._layout_memo)))
            self._layout_memo[ctx, hctx] = korean + cost > latin
        return self._layout_memo[ctx, hctx]

    def _prefix_logprob(self, ids: tuple[int, ...]) -> float:
        return float(self.lm.token_logprobs(list(ids)).sum())

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

    def _extend(self, ctx: tuple[int, ...],
                chosen: list[tuple[float, _Hyp, int, bool, tuple[int, ...]]],
                use_cache: bool) -> Search:
        """The chosen extensions as hypotheses, their new states computed in one batch
        (or taken from the state cache, where the last keystroke left them; an extension
        two readings chose is computed once)."""
        keys = [(*ctx, *h.ids, token) for _, h, token, _, _ in chosen]
        states = [self._cache.get(key) if use_cache else None for key in keys]
        todo = list({keys[j]: j for j, s in enumerate(states) if s is None}.values())
        if todo:
            new = yield ("advance", [chosen[j][1].state for j in todo],
                         [chosen[j][2] for j in todo])
            done = dict(zip((keys[j] for j in todo), new, strict=True))
            for j, s in enumerate(states):
                if s is None:
                    states[j] = done[keys[j]]
            if use_cache:
                for key, s in done.items():
                    self._cache[key] = s
        out = []
        for (logp, h, token, new_word, reads), state in zip(chosen, states, strict=True):
            text = self.tok.piece_text[token] or ""
            ids = (*h.ids, token)
            if new_word:
                out.append(_Hyp(logp, ids, (*h.words, h.word), text, (token,), True, state,
                                reads))
            else:
                out.append(_Hyp(logp, ids, h.words, h.word + text, (*h.word_ids, token), True,
                                state, reads))
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
        ids = sentence(self.tok, text)
        parts = self.lm.token_logprobs(ids)
        pieces = [self.tok.id_to_piece(i) for i in ids]
        return TextScore(float(parts.sum()), [(p, float(v)) for p, v in zip(pieces, parts,
                                                                          strict=True)],
                         len(text))
