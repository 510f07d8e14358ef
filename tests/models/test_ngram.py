import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from models.ngram import NgramConfig, NgramModel
from models.ngram_builder import (
    adjust_counts,
    build_ngram,
    count_ngrams,
    discounts,
    interpolate_order,
    prune,
    trie_level,
    unigram_distribution,
)

V, BOS, EOS = 40, 1, 2


def zipf_corpus(n: int, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        length = int(rng.integers(1, 9))
        out.append([int(3 + (rng.zipf(1.3) - 1) % (V - 3)) for _ in range(length)])
    return out


def reference_counts(sentences, order):
    """Every k-gram of the padded sentences (k <= order) by the obvious loops; <s> alone is
    not a unigram (it is only ever context)."""
    grams = [Counter() for _ in range(order + 1)]
    for s in sentences:
        padded = [BOS, *s, EOS]
        for k in range(1, order + 1):
            for t in range(len(padded)):
                if t - k + 1 >= 0 and not (k == 1 and t == 0):
                    grams[k][tuple(padded[t - k + 1: t + 1])] += 1
    return grams


def reference_adjusted(grams, order):
    """Raw counts at the top order and after <s>, elsewhere the distinct left neighbours."""
    adjusted = [None] + [Counter() for _ in range(order)]
    adjusted[order] = grams[order]
    for k in range(1, order):
        left = defaultdict(set)
        for g in grams[k + 1]:
            left[g[1:]].add(g[0])
        for g, c in grams[k].items():
            adjusted[k][g] = c if g[0] == BOS else len(left[g])
    return adjusted


def reference_discounts(adjusted, order):
    """(D1, D2, D3+) of each order from its count-of-counts (Chen & Goodman)."""
    discounts = {}
    for k in range(1, order + 1):
        n = [sum(1 for c in adjusted[k].values() if c == i) for i in (1, 2, 3, 4)]
        if min(n) == 0:
            discounts[k] = (0.5, 1.0, 1.5)
            continue
        y = n[0] / (n[0] + 2 * n[1])
        d = (1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2])
        discounts[k] = tuple(np.clip(d, [0.05, 0.1, 0.15], [0.95, 1.9, 2.85]))
    return discounts


def reference_kn(sentences, order):
    """Interpolated modified Kneser-Ney written the slow, obvious way (dicts, KenLM conventions)."""
    adjusted = reference_adjusted(reference_counts(sentences, order), order)
    discounts = reference_discounts(adjusted, order)

    def disc(k, c):
        return discounts[k][min(c, 3) - 1] if c > 0 else 0.0

    def prob(w, h):
        k = len(h) + 1
        if k == 1:
            total = sum(adjusted[1].values())
            gamma = sum(disc(1, c) for c in adjusted[1].values() if c > 0) / total
            return max(adjusted[1][(w,)] - disc(1, adjusted[1][(w,)]), 0) / total + gamma / V
        children = {g: c for g, c in adjusted[k].items() if g[:-1] == h}
        lower = prob(w, h[1:])
        if not children:
            return lower
        total = sum(children.values())
        gamma = sum(disc(k, c) for c in children.values()) / total
        c = children.get((*h, w), 0)
        return max(c - disc(k, c), 0) / total + gamma * lower

    return prob


@pytest.fixture(scope="module")
def corpus():
    return zipf_corpus(400)


def test_matches_a_reference_implementation(corpus):
    order = 3
    model = build_ngram(corpus, V, BOS, EOS, NgramConfig(order=order))
    ref = reference_kn(corpus, order)
    rng = np.random.default_rng(1)
    contexts = [(BOS,), (BOS, corpus[0][0]), tuple(corpus[3][:2])]
    contexts += [tuple(int(x) for x in rng.integers(3, V, size=2)) for _ in range(5)]
    for h in contexts:
        ours = np.exp(model.logprobs([h])[0])
        theirs = np.array([ref(w, h[-(order - 1):]) for w in range(V)])
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)


def entry_grams(counts, k):
    """The k-gram of each entry of order k, as a tuple (order 1: every token id)."""
    if k == 1:
        return [(w,) for w in range(counts.vocab_size)]
    lower = entry_grams(counts, k - 1)
    return [(*lower[c], int(w)) for c, w in zip(counts.ctx[k], counts.word[k], strict=True)]


def test_counting_finds_every_ngram_once_sorted_with_its_suffix(corpus):
    order = 4
    counts = count_ngrams(corpus, V, BOS, EOS, order)
    ref = reference_counts(corpus, order)
    for k in range(1, order + 1):
        grams = entry_grams(counts, k)
        assert {g: int(c) for g, c in zip(grams, counts.raw[k], strict=True) if c} == ref[k]
        if k == 1:
            continue
        assert grams == sorted(set(grams))  # each once, by (context, word): the trie's order
        lower = entry_grams(counts, k - 1)
        assert [lower[j] for j in counts.suffix[k]] == [g[1:] for g in grams]
        assert counts.at_bos[k].tolist() == [g[0] == BOS for g in grams]


@pytest.mark.parametrize("sentences, order", [(400, 4), (3, 3)])  # 3: the fixed discounts
def test_adjusted_counts_and_discounts_are_the_reference_ones(corpus, sentences, order):
    counts = count_ngrams(corpus[:sentences], V, BOS, EOS, order)
    adjusted = adjust_counts(counts)
    ref = reference_adjusted(reference_counts(corpus[:sentences], order), order)
    ref_d = reference_discounts(ref, order)
    for k in range(1, order + 1):
        grams = entry_grams(counts, k)
        assert adjusted[k].tolist() == [ref[k][g] for g in grams]
        np.testing.assert_allclose(discounts(adjusted[k][adjusted[k] > 0]), ref_d[k],
                                   rtol=1e-12)


def test_pruning_drops_rare_ngrams_and_those_whose_context_went(corpus):
    limits, order = [0, 1, 0, 2], 4
    counts = count_ngrams(corpus, V, BOS, EOS, order)
    keep = prune(counts, limits)
    ref, kept = reference_counts(corpus, order), {1: {(w,) for w in range(V)}}
    for k in range(2, order + 1):
        kept[k] = {g for g, c in ref[k].items() if c > limits[k - 1] and g[:-1] in kept[k - 1]}
        grams = entry_grams(counts, k)
        assert {g for g, stays in zip(grams, keep[k], strict=True) if stays} == kept[k]
    # order 3 has no limit of its own: what goes there went with its context
    assert not keep[2].all() and not keep[3].all() and not keep[4].all()
    assert keep[1].all() and len(keep[1]) == V


def test_interpolated_probabilities_and_backoff_are_the_reference_ones(corpus):
    order = 3
    counts = count_ngrams(corpus, V, BOS, EOS, order)
    adjusted = adjust_counts(counts)
    d = {k: discounts(adjusted[k][adjusted[k] > 0]) for k in range(1, order + 1)}
    keep = prune(counts, [])
    ref = reference_kn(corpus, order)
    np.testing.assert_allclose(unigram_distribution(adjusted[1], d[1], V),
                               [ref(w, ()) for w in range(V)], rtol=1e-12)
    for k in range(2, order + 1):
        probs, backoff = interpolate_order(k, counts, adjusted, d[k], keep)
        lower = entry_grams(counts, k - 1)
        assert len(probs) == len(counts.raw[k]) and len(backoff) == len(lower)
        for j, (g, p) in enumerate(zip(entry_grams(counts, k), probs, strict=True)):
            h, w = g[:-1], g[-1]
            parent = counts.ctx[k][j]
            # P(w | h) = probs + backoff * P(w | shorter h), as the reference computes it
            assert p + backoff[parent] * ref(w, h[1:]) == pytest.approx(ref(w, h), rel=1e-12)


def test_the_trie_holds_the_kept_ngrams_where_the_query_model_looks(corpus):
    order, limits = 3, [0, 1, 1]
    config = NgramConfig(order=order, prune=limits)
    counts = count_ngrams(corpus, V, BOS, EOS, order)
    adjusted = adjust_counts(counts)
    keep = prune(counts, limits)
    arrays = {"unigram": np.ones(V, dtype=np.float32) / V}
    levels = {}
    for k in range(2, order + 1):
        d = discounts(adjusted[k][adjusted[k] > 0])
        levels[k] = interpolate_order(k, counts, adjusted, d, keep)
        arrays |= trie_level(k, counts, keep, *levels[k])
    model = NgramModel(config, V, BOS, EOS, arrays)
    for k in range(2, order + 1):
        probs, backoff = levels[k]
        grams = entry_grams(counts, k)
        assert len(model.words[k]) == keep[k].sum()
        for j, g in enumerate(grams):
            at = model._find(g)
            if not keep[k][j]:
                assert at == -1
                continue
            assert model.probs[k][at] == np.float32(probs[j])
            parent, context = model._find(g[:-1]), counts.ctx[k][j]
            assert model.gammas[k - 1][parent] == np.float32(backoff[context])
            # the context's kept children, and exactly normalised with the lower order's weight
            siblings = keep[k] & (counts.ctx[k] == context)
            lo, hi = model.offsets[k - 1][parent], model.offsets[k - 1][parent + 1]
            assert hi - lo == siblings.sum() and lo <= at < hi
            assert backoff[context] + probs[siblings].sum() == pytest.approx(1.0, abs=1e-12)


def test_serving_never_imports_the_builder_or_training_code(model_dir):
    """The service and the loader, in a fresh interpreter: estimating models and tuning
    them are for training runs, not for a replica."""
    root = Path(__file__).resolve().parents[2]
    code = (f"import sys; sys.path.insert(0, {str(root)!r})\n"
            "import app.main\n"
            "from models.loading import load_model\n"
            f"lm = load_model({str(model_dir)!r}, 'ngram').engine.lm\n"
            "assert lm.token_logprobs([5, 6]).shape == (2,)\n"
            "print(sorted(m for m in sys.modules if m.startswith('models.')))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, timeout=300, check=True).stdout
    loaded = out.strip()
    assert "'models.ngram'" in loaded and "'models.loading'" in loaded
    for training in ("models.ngram_builder", "models.training", "models.neural_training",
                     "models.evaluation"):
        assert f"'{training}'" not in loaded


@pytest.mark.parametrize("order", [1, 2, 3, 5])
@pytest.mark.parametrize("prune", [[], [0, 1, 1, 1]])
def test_distributions_sum_to_one_for_seen_and_unseen_contexts(corpus, order, prune):
    model = build_ngram(corpus, V, BOS, EOS, NgramConfig(order=order, prune=prune))
    rng = np.random.default_rng(order)
    states = [model.start(), tuple(corpus[5][-(order - 1):]) if order > 1 else ()]
    states += [tuple(int(x) for x in rng.integers(0, V, size=order - 1)) for _ in range(20)]
    lp = model.logprobs(states)
    assert lp.shape == (len(states), V)
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0, atol=1e-5)
    assert np.isfinite(lp).all()  # nothing has probability 0


def test_token_logprobs_agree_with_whole_distributions(corpus):
    model = build_ngram(corpus, V, BOS, EOS, NgramConfig(order=4))
    unseen = [7, 39, 38, 37, 3, EOS]
    for ids in (corpus[0] + [EOS], unseen):
        state, expected = model.start(), []
        for i in ids:
            expected.append(model.logprobs([state])[0, i])
            state = model.advance([state], [i])[0]
        np.testing.assert_allclose(model.token_logprobs(ids), expected, rtol=1e-9)


def test_pruning_shrinks_the_model(corpus):
    full = build_ngram(corpus, V, BOS, EOS, NgramConfig(order=4))
    pruned = build_ngram(corpus, V, BOS, EOS, NgramConfig(order=4, prune=[0, 0, 1, 1]))
    assert pruned.counts[4] < full.counts[4] and pruned.counts[3] < full.counts[3]
    assert pruned.counts[2] == full.counts[2]
    assert pruned.nbytes() < full.nbytes()


def test_save_and_load_give_identical_answers(corpus, tmp_path):
    model = build_ngram(corpus, V, BOS, EOS, NgramConfig(order=3))
    model.save(tmp_path / "ngram")
    loaded = NgramModel.load(tmp_path / "ngram")
    states = [model.start(), (BOS, 5), (9, 9)]
    np.testing.assert_array_equal(model.logprobs(states), loaded.logprobs(states))
    assert not list(tmp_path.glob("ngram/*.pkl"))


def test_more_context_helps_on_the_training_text(corpus):
    bigram = build_ngram(corpus, V, BOS, EOS, NgramConfig(order=2))
    fourgram = build_ngram(corpus, V, BOS, EOS, NgramConfig(order=4))
    ids = [t for s in corpus[:50] for t in [*s, EOS]]
    assert fourgram.token_logprobs(ids).sum() > bigram.token_logprobs(ids).sum()



def test_the_row_cache_is_bounded_in_bytes_not_rows(corpus, tmp_path):
    """Rows of V float64s: a budget of three rows keeps three, whatever was asked, and the
    answers are the uncached ones."""
    model = build_ngram(corpus, V, BOS, EOS, NgramConfig(order=3))
    model.save(tmp_path / "ngram")
    row = V * 8 + 200  # what the cache counts for one row
    small = NgramModel.load(tmp_path / "ngram", cache_bytes=3 * row)
    rng = np.random.default_rng(7)
    states = [tuple(int(x) for x in rng.integers(0, V, size=2)) for _ in range(40)]
    for s in states:
        np.testing.assert_array_equal(small.logprobs([s]), model.logprobs([s]))
        assert len(small._cache) <= 3 and small._cache.bytes <= 3 * row
    assert len(small._cache) == 3
    off = NgramModel.load(tmp_path / "ngram", cache_bytes=0)  # 0: nothing is kept
    np.testing.assert_array_equal(off.logprobs(states[:5]), model.logprobs(states[:5]))
    assert len(off._cache) == 0
