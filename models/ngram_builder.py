"""Estimating an interpolated modified Kneser-Ney model: the stages that turn token-id
sentences into the arrays ``NgramModel`` (models/ngram.py) queries.

Kept apart from the query model as KenLM keeps ``lm/builder/`` apart from ``lm/model.hh``:
the service loads and queries models and never imports this module. Each stage is a
function of arrays; order k runs from 1 (unigrams) to n (``config.order``)::

    sentences ─ count_ngrams ─► Counts: for k >= 2, entries sorted by (context, word):
                                  ctx[k], word[k], raw[k], suffix[k], at_bos[k];
                                  raw[1] by token id
      ─ adjust_counts ─► adjusted[k]   continuation counts N1+(· w) below the top order,
                                       raw counts at the top and for n-grams after <s>
      ─ discounts ─► D[k] = (D1, D2, D3+) from adjusted[k]'s count-of-counts
      ─ prune ─► keep[k]               the entries that stay (unigrams always do)
      ─ unigram_distribution ─► unigram (interpolated with the uniform distribution)
      ─ interpolate_order (each k >= 2) ─► probs over all of order k's entries,
                                            backoff over all of order k-1's
      ─ trie_level (each k >= 2) ─► words{k}, probs{k}, offsets{k-1}, gammas{k-1}:
                                    the kept entries, as ``NgramModel`` reads them

The conventions are KenLM ``lmplz``'s (see models/ngram.py); ``build_ngram`` runs the
stages in order, one order at a time where it can, so that only the counts are held
for every order at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from models.ngram import NgramConfig, NgramModel


@dataclass
class Counts:
    """The n-grams of a corpus up to ``order``. ``raw[1][w]`` counts token w (never <s>,
    which is only ever context); for k >= 2, entry i of order k is a k-gram, the entries
    sorted by (context entry, word):

        ctx[k][i]     its first k-1 tokens, as an entry of order k-1 (a token id at k = 2)
        word[k][i]    its last token
        raw[k][i]     how many times it was seen
        suffix[k][i]  its last k-1 tokens, as an entry of order k-1
        at_bos[k][i]  whether it begins with <s> (it has no left context)
    """

    order: int
    vocab_size: int
    raw: dict[int, np.ndarray]
    ctx: dict[int, np.ndarray]
    word: dict[int, np.ndarray]
    suffix: dict[int, np.ndarray]
    at_bos: dict[int, np.ndarray]


def _stream(sentences: Iterable[Sequence[int]], bos: int, eos: int) -> tuple[np.ndarray, ...]:
    """All sentences as one stream ``<s> ids </s> <s> ...`` and each token's position."""
    chunks, positions = [], []
    for ids in sentences:
        chunks.append(np.asarray([bos, *ids, eos], dtype=np.int32))
        positions.append(np.arange(len(ids) + 2, dtype=np.int32))
    return np.concatenate(chunks), np.concatenate(positions)


def count_ngrams(sentences: Iterable[Sequence[int]], vocab_size: int, bos_id: int,
                 eos_id: int, order: int) -> Counts:
    """Count every k-gram (k <= ``order``) of the sentences (token ids without <s> and
    </s>), each sentence wrapped in <s> ... </s>. One pass an order over the whole
    stream: the k-grams are the (k-1)-gram entries ending one position earlier
    extended by the token there."""
    V = vocab_size
    seq, pos = _stream(sentences, bos_id, eos_id)
    # idx[k][t]: entry of the k-gram that ends at position t (-1 where none)
    idx = {1: seq.astype(np.int64)}
    ctx, word, suffix = {}, {}, {}
    raw, at_bos = {1: np.bincount(seq[pos > 0], minlength=V)}, {}
    for k in range(2, order + 1):
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
    return Counts(order, V, raw, ctx, word, suffix, at_bos)


def adjust_counts(counts: Counts) -> dict[int, np.ndarray]:
    """The counts Kneser-Ney discounts, by order and entry: the raw count at the top
    order and for n-grams that begin with <s>, elsewhere the continuation count (how many
    distinct tokens precede it, read off the suffixes of the order above)."""
    n = counts.order
    adjusted = {n: counts.raw[n]}
    for k in range(1, n):
        cont = np.bincount(counts.suffix[k + 1], minlength=len(counts.raw[k]))
        if k == 1:
            adjusted[1] = cont
        else:
            adjusted[k] = np.where(counts.at_bos[k], counts.raw[k], cont)
    return adjusted


def discounts(adjusted: np.ndarray) -> np.ndarray:
    """Modified Kneser-Ney discounts D1, D2, D3+ from the count-of-counts of the (nonzero)
    adjusted counts of one order (Chen & Goodman)."""
    n = [int(np.count_nonzero(adjusted == i)) for i in (1, 2, 3, 4)]
    if min(n) == 0:  # too little data for the estimate: a sane fixed choice
        return np.array([0.5, 1.0, 1.5])
    y = n[0] / (n[0] + 2 * n[1])
    d = np.array([1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2]])
    return np.clip(d, [0.05, 0.1, 0.15], [0.95, 1.9, 2.85])


def discounted(adjusted: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Each count less its discount (D1 for 1, D2 for 2, D3+ above), never below 0."""
    c = adjusted
    return np.where(c >= 3, c - d[2], np.where(c == 2, c - d[1], c - d[0])).clip(0)


def prune(counts: Counts, limits: Sequence[int]) -> dict[int, np.ndarray]:
    """Which entries stay, by order: an order k+1 n-gram seen at most ``limits[k]`` times
    goes (0 or no limit keeps them all), and so does every n-gram whose context went.
    Unigrams always stay."""
    keep = {1: np.ones(counts.vocab_size, dtype=bool)}
    for k in range(2, counts.order + 1):
        limit = limits[k - 1] if len(limits) >= k else 0
        keep[k] = keep[k - 1][counts.ctx[k]] & (counts.raw[k] > limit)
    return keep


def unigram_distribution(adjusted: np.ndarray, d: np.ndarray, vocab_size: int) -> np.ndarray:
    """P(w) from order 1's adjusted counts and discounts, interpolated with the uniform
    distribution (the discounted mass spread over the vocabulary): nothing has P = 0."""
    total = adjusted.sum()
    disc = np.where(adjusted > 0, discounted(adjusted, d), 0.0)
    return disc / total + (1 - disc.sum() / total) / vocab_size


def interpolate_order(k: int, counts: Counts, adjusted: dict[int, np.ndarray],
                      d: np.ndarray, keep: dict[int, np.ndarray]) -> tuple[np.ndarray, ...]:
    """``(probs, backoff)`` of order k >= 2: each entry's discounted count over its
    context's total, and for each context (an entry of order k-1) the weight left to the
    lower order, 1 - the mass of the children kept: exactly normalised, and what pruning
    removed goes to the lower order."""
    ctx, parents = counts.ctx[k], len(keep[k - 1])
    probs = discounted(adjusted[k], d) / np.maximum(
        np.bincount(ctx, weights=adjusted[k], minlength=parents)[ctx], 1)
    kept_mass = np.bincount(ctx[keep[k]], weights=probs[keep[k]], minlength=parents)
    return probs, 1.0 - kept_mass


def trie_level(k: int, counts: Counts, keep: dict[int, np.ndarray], probs: np.ndarray,
               backoff: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays of order k >= 2 as ``NgramModel`` stores them: ``words{k}`` and
    ``probs{k}`` of the kept entries, and for the kept entries of order k-1 their
    ``gammas{k-1}`` and ``offsets{k-1}`` (the range of their children), renumbered
    over what was kept."""
    kept = keep[k]
    gammas = backoff[keep[k - 1]]
    new_index = np.cumsum(keep[k - 1]) - 1
    children_ctx = new_index[counts.ctx[k][kept]]
    offsets = np.searchsorted(children_ctx, np.arange(len(gammas) + 1))
    return {f"gammas{k - 1}": gammas.astype(np.float32),
            f"offsets{k - 1}": offsets.astype(np.int32 if len(children_ctx) < 2**31
                                              else np.int64),
            f"words{k}": counts.word[k][kept].astype(np.uint16 if counts.vocab_size <= 65535
                                                     else np.int32),
            f"probs{k}": probs[kept].astype(np.float32)}


def build_ngram(sentences: Iterable[Sequence[int]], vocab_size: int, bos_id: int,
                eos_id: int, config: NgramConfig | None = None) -> NgramModel:
    """Count and estimate a model from token-id sentences (without <s> and </s>)."""
    config = config or NgramConfig()
    n = config.order
    counts = count_ngrams(sentences, vocab_size, bos_id, eos_id, n)
    adjusted = adjust_counts(counts)
    d = {k: discounts(adjusted[k][adjusted[k] > 0]) for k in range(1, n + 1)}
    keep = prune(counts, config.prune)
    arrays = {"unigram": unigram_distribution(adjusted[1], d[1], vocab_size).astype(np.float32)}
    for k in range(2, n + 1):  # one order's probabilities at a time
        probs, backoff = interpolate_order(k, counts, adjusted, d[k], keep)
        arrays |= trie_level(k, counts, keep, probs, backoff)
    return NgramModel(config, vocab_size, bos_id, eos_id, arrays,
                      counts={k: int(keep[k].sum()) for k in range(1, n + 1)},
                      discounts={k: v.tolist() for k, v in d.items()})
