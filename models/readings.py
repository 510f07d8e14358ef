"""Other readings of typed keys: initials (초성), the wrong keyboard mode (한/영), a wrong key.

A partial word is matched on keystrokes (``models/hangul.py``): its keys, and the keys
of a candidate word, must agree. People type the same word in other ways too, and each
is another sequence (or pattern) of keys for it:

    initials   ㅅㄱ       the words whose first syllables start with ㅅ and ㄱ (사과, 시간)
    layout     dkssud    Latin letters typed in English mode: the keys ㅇㅏㄴㄴㅕㅇ (안녕)
    typo       먹엇       one key wrong (Shift missed, or the key beside): ㅁㅓㄱㅇㅓㅆ (먹었)

The completion engine searches the literal reading as it always did, and with a beam of
its own the one other reading a partial word has (they exclude each other: initials need
consonants alone, layout Latin letters, a typo Hangul with a syllable): initials and
layout beside it, a typo after it (branching off its hypotheses where a key differs), and
only when the literal words leave room for a word one key away, penalty paid. A
word of another reading is ranked by its probability times the reading's penalty
(``Readings``), so that what was typed exactly stays first when it is likely: the
probability of the word and of a mistake of that kind, which is what the engine reports.

``PieceIndex`` finds the pieces of the vocabulary whose keys agree with the keys still to
match, for the keystrokes of a piece (exact, layout, typo) and for its initials alike.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from models import hangul

# Ends the initials key of a piece whose syllables stop before its end (a piece "과를!"
# is ㄱㄹ + STOP): no initial can follow it, yet the initials before it can still match.
STOP = "\x00"
KINDS = ("exact", "initials", "layout", "typo")


def initials_key(text: str) -> str:
    """The key a piece (or a word) is matched on when initials are typed: the initials of
    its syllables, then ``STOP`` if anything else follows them."""
    lead = hangul.initials(text)
    return lead if len(lead) == len(text) else lead + STOP


@dataclass(frozen=True)
class Readings:
    """Which readings a search tries besides the literal one, and the log-penalty (ln,
    added to ln P) each pays: tuned on the NSMC validation text (``bench/readings_tune.py``),
    where exact typing (every keystroke screen of 60 sentences, and the English words of
    the sample corpus by two letters) loses no word from its top 3. Layout -4 would push
    out English words; a milder typo penalty finds more typos (-6: 38.8% of them in the
    top 3, -8: 33.9%) but starts to push out words typed right."""

    initials: bool = True
    layout: bool = True
    typo: bool = True
    initials_cost: float = -2.0
    layout_cost: float = -8.0
    typo_cost: float = -8.0
    typo_keys: tuple[int, int] = (4, 10)  # a word of fewer or more keys is read as typed
    typo_beam: int | None = None  # hypotheses a typo keeps; None: the literal beam

    def cost(self, kind: str) -> float:
        """The log-penalty of a reading (0 for the literal one)."""
        return 0.0 if kind == "exact" else getattr(self, f"{kind}_cost")


EVERY = Readings()  # the engine's and the service's default
LITERAL = Readings(initials=False, layout=False, typo=False)  # the keys as typed, alone


@dataclass(frozen=True)
class Alternative:
    """The other reading of a partial word: its kind and the key patterns it stands for
    (one for initials and layout, one a wrong key for a typo), all at one cost."""

    kind: str
    patterns: tuple[str, ...]
    cost: float
    beam: int | None = None  # None: the engine's


def alternative(partial: str, readings: Readings, max_syllables: int) -> Alternative | None:
    """The reading of ``partial`` besides the literal one, if it has one under ``readings``.

    Initials: two or more initial consonants (ㅅㄱ), at most ``max_syllables``. Layout:
    Latin letters that compose as Hangul (``latin_keys``). Typo: a Hangul word of
    ``readings.typo_keys`` keys (about two syllables to four) that holds a syllable, each
    key replaced in turn by each of its neighbours."""
    if readings.initials and 2 <= len(partial) <= max_syllables and all(
            c in hangul.CHO for c in partial):
        return Alternative("initials", (partial,), readings.initials_cost)
    if readings.layout and (keys := hangul.latin_keys(partial)) is not None:
        return Alternative("layout", (keys,), readings.layout_cost)
    if readings.typo and any(hangul.is_syllable(c) for c in partial):
        keys = hangul.keys(partial)
        fewest, most = readings.typo_keys
        if fewest <= len(keys) <= most and all(c in hangul.LATIN_OF_JAMO for c in keys):
            patterns = dict.fromkeys(keys[:i] + other + keys[i + 1:]
                                     for i, key in enumerate(keys)
                                     for other in hangul.neighbours(key))
            patterns.pop(keys, None)
            if patterns:
                return Alternative("typo", tuple(patterns), readings.typo_cost,
                                   readings.typo_beam)
    return None


class PieceIndex:
    """The pieces of a vocabulary by a key of their text, kept in order so that the
    pieces whose key starts with some keys are a range (bisect), and those whose key is
    a prefix of them a few lookups.

    ``allowed(rest, starts)``: the pieces of a kind (word start or not) whose keys agree
    with ``rest``, the keys still to match: the piece's keys go on past ``rest``, or
    ``rest`` goes on past them. Memoised on what the vocabulary makes, not on what was
    typed: no piece tells apart keys beyond one more than the longest piece's, so ``rest``
    is cut there.
    """

    def __init__(self, texts: Sequence[str | None], starts_word: Sequence[bool],
                 key: Callable[[str], str], memo_size: int = 8192):
        self.keys = [None if t is None else key(t) for t in texts]
        self.all: dict[bool, np.ndarray] = {}
        self._by_key: dict[bool, dict[str, list[int]]] = {True: {}, False: {}}
        for starts in (True, False):
            ids = [i for i, t in enumerate(texts)
                   if t is not None and starts_word[i] == starts and (t or starts)]
            self.all[starts] = np.array(ids, dtype=np.int64)
            for i in ids:
                self._by_key[starts].setdefault(self.keys[i], []).append(i)
        self._sorted = {starts: sorted((self.keys[i], i) for i in self.all[starts].tolist()
                                       if self.keys[i]) for starts in (True, False)}
        self._sorted_keys = {starts: [k for k, _ in pairs]
                             for starts, pairs in self._sorted.items()}
        self.longest = max((len(k) for k in self.keys if k), default=0)
        self.memo = lru_cache(maxsize=memo_size)(self.allowed_uncached)

    def allowed(self, rest: str, starts: bool) -> np.ndarray:
        """The pieces of a kind whose keys agree with ``rest`` (sorted ids)."""
        return self.memo(rest[: self.longest + 1], starts)

    def allowed_uncached(self, rest: str, starts: bool) -> np.ndarray:
        """``allowed`` computed afresh."""
        if not rest:
            return self.all[starts]
        exact = self._by_key[starts]
        ids = [i for n in range(1, len(rest)) for i in exact.get(rest[:n], ())]  # rest goes on
        keys = self._sorted_keys[starts]  # ...or the piece's keys go on past rest
        lo, hi = bisect_left(keys, rest), bisect_left(keys, rest + "\U0010ffff")
        ids += [i for _, i in self._sorted[starts][lo:hi]]
        if starts:
            ids += exact.get("", [])  # "▁" alone consumes nothing
        return np.array(sorted(ids), dtype=np.int64)


def agrees(rest: str, piece_key: str, starts: bool) -> bool:
    """Whether a piece with ``piece_key`` is among ``PieceIndex.allowed(rest, starts)``
    (for a piece of that kind)."""
    if not rest:
        return True
    if not piece_key:
        return starts
    return rest.startswith(piece_key) or piece_key.startswith(rest)


@dataclass
class Pool:
    """The hypotheses of one reading in a search, with a beam of their own, and the
    words they finished (ln P as the model gives it, without the penalty)."""

    kind: str
    patterns: tuple[str, ...]
    index: PieceIndex
    key: Callable[[str], str]
    cost: float
    beam: int
    live: list = field(default_factory=list)
    trunk: Pool | None = None  # the literal reading, which this one branches off
    seen: list = field(default_factory=list)  # a trunk's hypotheses of the first word
    branched: bool = False
    finished: dict[str, float] = field(default_factory=dict)

    def branching(self) -> list:
        """The trunk's hypotheses this reading has yet to branch off (all, once)."""
        return [] if self.trunk is None or self.branched else self.trunk.seen

    def rests(self, word_key: str, reads: tuple[int, ...]) -> list[str]:
        """The keys each pattern in ``reads`` still has to match after ``word_key``."""
        return [p[len(word_key):] if p.startswith(word_key) else ""
                for p in (self.patterns[r] for r in reads)]

    def allowed(self, rests: list[str], starts: bool) -> np.ndarray:
        """The pieces that agree with any of ``rests``."""
        if len(rests) == 1:
            return self.index.allowed(rests[0], starts)
        return np.unique(np.concatenate([self.index.allowed(r, starts)
                                         for r in dict.fromkeys(rests)]))


def merge(pools: Sequence[Pool], k: int) -> list[tuple[str, float, str]]:
    """The ``k`` best finished words of all pools, ``(text, score, kind)``, best first: the
    score is ln P plus the reading's penalty (ln P itself for the literal reading), the
    log-probability of the word and of a mistake of that kind; a word two readings found
    counts once, by its best."""
    best: dict[str, tuple[float, str]] = {}
    for pool in pools:
        for text, lp in pool.finished.items():
            if lp + pool.cost > best.get(text, (-math.inf, ""))[0]:
                best[text] = (lp + pool.cost, pool.kind)
    ranked = sorted(best.items(), key=lambda kv: -kv[1][0])[:k]
    return [(text, score, kind) for text, (score, kind) in ranked]
