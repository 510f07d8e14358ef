"""Personal adaptation: what one user taught, mixed into the served model's distributions.

    P(w | h, user) = (1 − μ) · P_model(w | h) + μ · P_user(w | h),   μ = μ[k(h)]

``P_user`` is a small n-gram over the pieces of the user's own sentences (a cache model in
the sense of Kuhn & De Mori, 1990: what a person wrote lately is likely again; interpolated
Witten-Bell, 1991, from the unigram of the user's pieces up). It knows only pieces the user
typed; the served model covers the rest. ``μ`` depends on ``k(h)``, the longest end of the
history the user has written before: after a context the user wrote often, the user's own
continuation is trusted more (the weights of each ``k`` tuned on validation text grouped by
movie, see bench/personal_tune.py). The weight depends on the history only, so the
mixture is a distribution, and its parts are linear: the mass of a set of pieces (the word
boundaries) is ``(1 − μ)·mass_model + μ·mass_user``.

The search reads rows from the model as it always does; ``PersonalRows`` wraps them, so the
adaptation makes no model call of its own and the step scheduler's batching is unchanged:

    search ─("rows", states)─► scheduler ─► model rows ─► PersonalRows(rows, user, histories)
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from models.lm import Rows, TokenSet
from models.tokenizer import Tokenizer


@dataclass(frozen=True)
class PersonalConfig:
    """The user model's order and the mixture weight ``weights[k]`` for a history whose
    longest end the user wrote is ``k`` pieces long (``k`` = 0 .. order − 1)."""

    order: int = 4
    # tuned on valid.txt grouped by movie (bench/personal_tune.py: the likelihood of each
    # word); through the service on 40 movies of valid.txt (personal_eval.py) these gave
    # KSR keys x1.022 and hit@1 x0.988, priors of (0.15, 0.15, 0.2, 0.3) x1.012 and x0.917
    weights: tuple[float, ...] = (0.025, 0.05, 0.075, 0.185)
    # within a word, μ follows the evidence: the posterior that the user's model is the one
    # writing the word, given its pieces so far (see ``adapter``)
    posterior: bool = True

    def __post_init__(self) -> None:
        if self.order < 1 or len(self.weights) != self.order:
            raise ValueError(f"need {self.order} weights (one per context length), "
                             f"not {len(self.weights)}")
        if not all(0.0 <= w < 1.0 for w in self.weights):
            raise ValueError(f"weights must be in [0, 1): {self.weights}")


@dataclass(frozen=True)
class _HistoryDist:
    """P_user(· | h) as a sum: A · unigram(w) + Σ scale_n · count_n(w) over the contexts
    of h that the user wrote (Witten-Bell unrolled), and μ for h."""

    unigram_scale: float
    terms: tuple[tuple[float, np.ndarray, np.ndarray], ...]  # scale, pieces (sorted), counts
    mu: float
    k: int  # the longest end of the history that the user wrote, in pieces
    seen: int = 0  # how often the user wrote that end


class PersonalModel:
    """A user's n-gram over pieces, kept by sentence so that the oldest can be forgotten.

    ``add`` and ``remove`` take a sentence by its key (the store's entry id); a sentence is
    counted between <s> and </s>. The counts are sorted arrays of n-gram codes (the pieces
    as the digits of a number in base ``vocab_size``), rebuilt in one numpy pass after a
    change: the followers of a context are one range of the next order's codes. A few
    hundred KB for 20,000 characters, where dictionaries of counts took megabytes. Not
    thread-safe: one model thread changes it (a search keeps the arrays it read)."""

    def __init__(self, bos_id: int, eos_id: int, config: PersonalConfig | None = None,
                 vocab_size: int = 1 << 15):
        self.bos_id, self.eos_id, self.vocab_size = bos_id, eos_id, vocab_size
        self.config = config or PersonalConfig()
        if vocab_size ** self.config.order >= 1 << 63:
            raise ValueError(f"order {self.config.order} over {vocab_size} pieces does not "
                             f"fit the 64-bit n-gram codes")
        self.entries: OrderedDict[str, tuple[float, np.ndarray]] = OrderedDict()
        self.version = 0  # bumped by every change
        self._built = -1
        # _codes[n], _counts[n]: the n-grams (n = 1..order) the user wrote, sorted, counted
        self._codes: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def pieces(self) -> int:
        """Pieces counted (sentence ends included)."""
        self._build()
        return int(self._counts[1].sum()) if len(self._counts) > 1 else 0

    def add(self, key: str, ids: Sequence[int], when: float | None = None) -> None:
        """Count a sentence (its piece ids) under ``key``; a key already counted is left."""
        if key in self.entries:
            return
        self.entries[key] = (time.time() if when is None else when,
                             np.asarray(ids, dtype=np.int64))
        self.version += 1

    def remove(self, key: str) -> None:
        """Forget the sentence counted under ``key`` (no-op if it is not)."""
        if self.entries.pop(key, None) is not None:
            self.version += 1

    def forget_before(self, oldest: float) -> int:
        """Forget the sentences learned before ``oldest`` (a time.time()); how many."""
        old = [key for key, (t, _) in self.entries.items() if t < oldest]
        for key in old:
            self.remove(key)
        return len(old)

    def _build(self) -> None:
        """The counts of every order from the sentences, in one pass a order."""
        if self._built == self.version:
            return
        order, v = self.config.order, self.vocab_size
        seqs = [np.concatenate(([self.bos_id], ids, [self.eos_id]))
                for _, ids in self.entries.values()] or [np.zeros(0, dtype=np.int64)]
        seq = np.concatenate(seqs).astype(np.int64)
        # how far back each position's context may reach within its own sentence
        lengths = [len(x) for x in seqs]
        starts = np.repeat(np.cumsum([0] + lengths[:-1]), lengths).astype(np.int64)
        pos = np.arange(len(seq), dtype=np.int64)
        codes, counts = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        for n in range(1, order + 1):  # the n-grams ending at every piece but <s>
            ok = (pos - (n - 1) >= starts) & (pos > starts)
            end = pos[ok]
            code = np.zeros(len(end), dtype=np.int64)
            for back in range(n - 1, -1, -1):
                code = code * v + seq[end - back]
            uniq, count = np.unique(code, return_counts=True)
            codes.append(uniq)
            counts.append(count)
        self._codes, self._counts, self._built = codes, counts, self.version

    # --- P_user ------------------------------------------------------------------
    def unigram(self) -> tuple[np.ndarray, np.ndarray]:
        """The user's pieces (sorted ids) and their unigram probabilities."""
        self._build()
        total = max(int(self._counts[1].sum()), 1)
        return self._codes[1], self._counts[1] / total

    def followers(self, context: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The pieces the user wrote after ``context`` (sorted) and how often."""
        self._build()
        n, v = len(context) + 1, self.vocab_size
        code = 0
        for p in context:
            code = code * v + int(p)
        codes = self._codes[n]
        lo, hi = np.searchsorted(codes, [code * v, (code + 1) * v])
        return codes[lo:hi] - code * v, self._counts[n][lo:hi]

    def history_dist(self, history: Sequence[int]) -> _HistoryDist:
        """P_user(· | history) in parts, and μ; ``history`` starts with <s>."""
        order = self.config.order
        scale, terms, k, seen = 1.0, [], 0, 0
        # from the longest context down: P_n = (c_n(w) + T_n·P_{n−1}(w)) / (t_n + T_n)
        for n in range(min(order - 1, len(history)), 0, -1):
            keys, counts = self.followers(history[len(history) - n:])
            if not len(keys):
                continue
            total, distinct = int(counts.sum()), len(keys)
            if n > k:
                k, seen = n, total
            terms.append((scale / (total + distinct), keys, counts.astype(np.float64)))
            scale *= distinct / (total + distinct)
        mu = self.config.weights[k] if self.entries else 0.0
        return _HistoryDist(scale, tuple(terms), mu, k, seen)

    def probs(self, dist: _HistoryDist, ids: np.ndarray,
              unigram: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """P_user of each of ``ids`` (sorted, all pieces of the user's ``unigram``: by
        default the current one; a search keeps the one it started with)."""
        uni_ids, uni = unigram or self.unigram()
        out = dist.unigram_scale * uni[np.searchsorted(uni_ids, ids)]
        for s, keys, counts in dist.terms:
            pos = np.searchsorted(ids, keys)
            ok = pos < len(ids)
            ok[ok] = ids[pos[ok]] == keys[ok]
            out[pos[ok]] += s * counts[ok]
        return out

    def mass(self, dist: _HistoryDist, tokens: TokenSet, unigram_mass: float) -> float:
        """P_user(any of ``tokens`` | history), given the unigram's mass of them."""
        total = dist.unigram_scale * unigram_mass
        for s, keys, counts in dist.terms:
            total += s * float(counts @ tokens.mask[keys])
        return total


class _Search:
    """What one search keeps of a user's model: the unigram it started with (a sentence
    learned meanwhile changes the model, not this search's reading of it), the
    distributions of the histories met, where the user's pieces fall in each allowed set,
    and each hypothesis's weight and what its row gave the pieces read."""

    def __init__(self, user: PersonalModel, starts_word: Sequence[bool] | None):
        self.user, self.starts_word = user, starts_word
        self.uni_ids, self.uni = user.unigram()
        self.dists: dict[tuple[int, ...], _HistoryDist] = {}
        self.shared: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.masses: dict[int, tuple[TokenSet, float]] = {}
        self.weights: dict[tuple[int, ...], tuple[float, _HistoryDist]] = {}
        self.reads: dict[tuple[int, ...], list[tuple[np.ndarray, np.ndarray]]] = {}

    def dist(self, history: tuple[int, ...]) -> _HistoryDist:
        d = self.dists.get(history)
        if d is None:
            d = self.dists[history] = self.user.history_dist(history)
        return d

    def weight(self, ids: tuple[int, ...], dist: _HistoryDist) -> float:
        """μ of the row after the hypothesis ``ids``. At a word's start, the prior μ of its
        history; within a word, Bayes: μ' = μ·P_user(p) / (μ·P_user(p) + (1 − μ)·P_model(p))
        for the piece p just read, so a word's probability is the word-level mixture
        (1 − μ)·P_model(word) + μ·P_user(word): a long word of the user's is not cut short
        by a factor μ a piece, and the user's model stops counting once it failed."""
        held = self.weights.get(ids)
        if held is not None:
            return held[0]
        mu = dist.mu
        if ids and self.starts_word is not None and self.user.config.posterior:
            parent, p = ids[:-1], ids[-1]
            up = self.weights.get(parent)
            p_model = self._model_prob(parent, p)
            if up is not None and p_model is not None:
                prior = up[1].mu if self.starts_word[p] else up[0]  # a new word: its prior
                p_user = self._user_prob(up[1], p)
                num, den = prior * p_user, prior * p_user + (1.0 - prior) * p_model
                mu = min(num / den, MAX_WEIGHT) if den > 0 else prior
        self.weights[ids] = (mu, dist)
        return mu

    def _model_prob(self, parent: tuple[int, ...], p: int) -> float | None:
        """P_model(p) in the row of ``parent``, as read there."""
        for arr, base in self.reads.get(parent, ()):
            j = int(np.searchsorted(arr, p))
            if j < len(arr) and arr[j] == p:
                return math.exp(float(base[j]))
        return None

    def _user_prob(self, dist: _HistoryDist, p: int) -> float:
        j = int(np.searchsorted(self.uni_ids, p))
        if j >= len(self.uni_ids) or self.uni_ids[j] != p:
            return 0.0
        return float(self.user.probs(dist, self.uni_ids[j:j + 1], (self.uni_ids, self.uni))[0])

    def positions(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions in ``ids`` (sorted) of the user's pieces, and those pieces."""
        hit = self.shared.get(id(ids))
        if hit is None or hit[0] is not ids:
            pos = np.searchsorted(ids, self.uni_ids)
            ok = pos < len(ids)
            ok[ok] = ids[pos[ok]] == self.uni_ids[ok]
            hit = self.shared[id(ids)] = (ids, pos[ok], self.uni_ids[ok])
        return hit[1], hit[2]

    def unigram_mass(self, tokens: TokenSet) -> float:
        hit = self.masses.get(id(tokens))
        if hit is None or hit[0] is not tokens:
            mass = float(self.uni @ tokens.mask[self.uni_ids]) if len(self.uni_ids) else 0.0
            hit = self.masses[id(tokens)] = (tokens, mass)
        return hit[1]


# The user's model never takes a row whole: pieces it never saw keep a share of the model's.
MAX_WEIGHT = 0.999


class PersonalRows(Rows):
    """The model's rows mixed with one user's model, read in parts like any ``Rows``:
    ``take`` reads the model's pieces and mixes in the user's where the user wrote them
    (ln(1 − μ) + ln P_model elsewhere); ``logmass`` mixes the two masses. ``keys``: the
    hypothesis of each row, under which what the model gave is remembered for the rows
    that follow (their μ)."""

    def __init__(self, base: Rows, search: _Search, dists: list[_HistoryDist],
                 mus: list[float], keys: list[tuple[int, ...]]):
        self.base, self.search, self.dists, self.mus, self.keys = base, search, dists, mus, keys

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, part: slice) -> PersonalRows:
        return PersonalRows(self.base[part], self.search, self.dists[part], self.mus[part],
                            self.keys[part])

    def take(self, b: int, ids: np.ndarray | Sequence[int]) -> np.ndarray:
        raw = self.base.take(b, ids)
        base = np.asarray(raw, dtype=np.float64)
        mu = self.mus[b]
        if mu <= 0.0:
            return base
        arr = ids if isinstance(ids, np.ndarray) else np.asarray(ids, dtype=np.int64)
        if len(arr) > 1 and not np.all(arr[1:] > arr[:-1]):  # not sorted: one at a time
            return np.array([float(self.take(b, arr[j:j + 1])[0]) for j in range(len(arr))])
        self.search.reads.setdefault(self.keys[b], []).append((arr, raw))
        out = base + math.log1p(-mu)
        pos, pieces = self.search.positions(arr)
        if len(pos):
            s = self.search
            p_user = s.user.probs(self.dists[b], pieces, (s.uni_ids, s.uni))
            with np.errstate(divide="ignore"):
                out[pos] = np.log((1.0 - mu) * np.exp(base[pos]) + mu * p_user)
        return out

    def logmass(self, tokens: TokenSet) -> np.ndarray:
        base = np.asarray(self.base.logmass(tokens), dtype=np.float64)
        out = base.copy()
        for b, (dist, mu) in enumerate(zip(self.dists, self.mus, strict=True)):
            if mu > 0.0:
                user = self.search.user.mass(dist, tokens, self.search.unigram_mass(tokens))
                mixed = (1.0 - mu) * math.exp(base[b]) + mu * user
                out[b] = math.log(mixed) if mixed > 0 else -math.inf
        return out


Adapter = Callable[[Rows, tuple[int, ...], Sequence[tuple[int, ...]]], Rows]


def adapter(user: PersonalModel, starts_word: Sequence[bool] | None = None) -> Adapter:
    """What a search calls on the rows it reads: the model's rows for the hypotheses
    ``context + ids`` wrapped with ``user``'s model. ``starts_word`` (the tokenizer's: which
    pieces begin a word) turns on the weights that follow the evidence within a word;
    without it μ is the prior of each history."""
    search = _Search(user, starts_word)
    keep = user.config.order - 1

    def adapt(rows: Rows, context: tuple[int, ...],
              hyps: Sequence[tuple[int, ...]]) -> Rows:
        keys = list(hyps)
        dists = [search.dist((user.bos_id, *context[-keep:], *ids)[-keep:] if keep else ())
                 for ids in keys]
        mus = [search.weight(ids, d) for ids, d in zip(keys, dists, strict=True)]
        return PersonalRows(rows, search, dists, mus, keys)

    return adapt


def normalise(text: str) -> str:
    """A learned text as the engine reads a context: whitespace collapsed."""
    return " ".join(text.split())


class PersonalModels:
    """One replica's user models for one tokenizer, the most recently used kept (at most
    ``max_users``). ``sync`` brings a user's model to the store's sentences: those the
    store no longer has are forgotten, new ones counted; nothing is rebuilt. ``sync`` runs
    in the engine's model thread, ``drop`` anywhere (a lock guards the table)."""

    def __init__(self, tok: Tokenizer, max_users: int = 1000,
                 config: PersonalConfig | None = None, max_context_chars: int = 400):
        self.tok, self.max_users = tok, max_users
        self.config = config or PersonalConfig()
        self.max_context_chars = max_context_chars
        self._users: OrderedDict[str, tuple[str, PersonalModel]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._users)

    def __contains__(self, user: str) -> bool:
        return user in self._users

    def drop(self, user: str) -> None:
        """Forget the user here (deleted in the store, or idle)."""
        with self._lock:
            self._users.pop(user, None)

    def sync(self, user: str, rev: str, entries: Iterable[tuple[str, float, str]],
             oldest: float = -math.inf) -> PersonalModel | None:
        """The user's model at revision ``rev`` of the store, whose sentences are
        ``entries`` (key, time learned, text). Sentences learned before ``oldest`` are
        forgotten (expired). None: nothing left (the user answers as anonymous)."""
        with self._lock:
            held = self._users.get(user)
            if held is not None and held[0] == rev:
                model = held[1]
            else:
                model = held[1] if held is not None else PersonalModel(
                    self.tok.bos_id, self.tok.eos_id, self.config, self.tok.vocab_size)
                fresh = {key: (t, text) for key, t, text in entries}
                for key in [k for k in model.entries if k not in fresh]:
                    model.remove(key)
                for key, (t, text) in fresh.items():
                    if key not in model.entries:
                        text = normalise(text)[-self.max_context_chars:]
                        model.add(key, self.tok.encode(text) if text else [], t)
            self._users[user] = (rev, model)
            self._users.move_to_end(user)
            while len(self._users) > self.max_users:
                self._users.popitem(last=False)
            model.forget_before(oldest)
            return model if len(model) else None
