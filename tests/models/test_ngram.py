from collections import Counter, defaultdict

import numpy as np
import pytest

from models.ngram import NgramConfig, NgramModel

V, BOS, EOS = 40, 1, 2


def zipf_corpus(n: int, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        length = int(rng.integers(1, 9))
        out.append([int(3 + (rng.zipf(1.3) - 1) % (V - 3)) for _ in range(length)])
    return out


def reference_kn(sentences, order):
    """Interpolated modified Kneser-Ney written the slow, obvious way (dicts, KenLM conventions)."""
    grams = [Counter() for _ in range(order + 1)]
    for s in sentences:
        padded = [BOS, *s, EOS]
        for k in range(1, order + 1):
            for t in range(len(padded)):
                if t - k + 1 >= 0 and not (k == 1 and t == 0):
                    grams[k][tuple(padded[t - k + 1: t + 1])] += 1
    adjusted = [None] + [Counter() for _ in range(order)]
    adjusted[order] = grams[order]
    for k in range(1, order):
        left = defaultdict(set)
        for g in grams[k + 1]:
            left[g[1:]].add(g[0])
        for g, c in grams[k].items():
            adjusted[k][g] = c if g[0] == BOS else len(left[g])
    discounts = {}
    for k in range(1, order + 1):
        n = [sum(1 for c in adjusted[k].values() if c == i) for i in (1, 2, 3, 4)]
        if min(n) == 0:
            discounts[k] = (0.5, 1.0, 1.5)
            continue
        y = n[0] / (n[0] + 2 * n[1])
        d = (1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2])
        discounts[k] = tuple(np.clip(d, [0.05, 0.1, 0.15], [0.95, 1.9, 2.85]))

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
    model = NgramModel.train(corpus, V, BOS, EOS, NgramConfig(order=order))
    ref = reference_kn(corpus, order)
    rng = np.random.default_rng(1)
    contexts = [(BOS,), (BOS, corpus[0][0]), tuple(corpus[3][:2])]
    contexts += [tuple(int(x) for x in rng.integers(3, V, size=2)) for _ in range(5)]
    for h in contexts:
        ours = np.exp(model.logprobs([h])[0])
        theirs = np.array([ref(w, h[-(order - 1):]) for w in range(V)])
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("order", [1, 2, 3, 5])
@pytest.mark.parametrize("prune", [[], [0, 1, 1, 1]])
def test_distributions_sum_to_one_for_seen_and_unseen_contexts(corpus, order, prune):
    model = NgramModel.train(corpus, V, BOS, EOS, NgramConfig(order=order, prune=prune))
    rng = np.random.default_rng(order)
    states = [model.start(), tuple(corpus[5][-(order - 1):]) if order > 1 else ()]
    states += [tuple(int(x) for x in rng.integers(0, V, size=order - 1)) for _ in range(20)]
    lp = model.logprobs(states)
    assert lp.shape == (len(states), V)
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0, atol=1e-5)
    assert np.isfinite(lp).all()  # nothing has probability 0


def test_token_logprobs_agree_with_whole_distributions(corpus):
    model = NgramModel.train(corpus, V, BOS, EOS, NgramConfig(order=4))
    unseen = [7, 39, 38, 37, 3, EOS]
    for ids in (corpus[0] + [EOS], unseen):
        state, expected = model.start(), []
        for i in ids:
            expected.append(model.logprobs([state])[0, i])
            state = model.advance([state], [i])[0]
        np.testing.assert_allclose(model.token_logprobs(ids), expected, rtol=1e-9)


def test_pruning_shrinks_the_model(corpus):
    full = NgramModel.train(corpus, V, BOS, EOS, NgramConfig(order=4))
    pruned = NgramModel.train(corpus, V, BOS, EOS, NgramConfig(order=4, prune=[0, 0, 1, 1]))
    assert pruned.counts[4] < full.counts[4] and pruned.counts[3] < full.counts[3]
    assert pruned.counts[2] == full.counts[2]
    assert pruned.nbytes() < full.nbytes()


def test_save_and_load_give_identical_answers(corpus, tmp_path):
    model = NgramModel.train(corpus, V, BOS, EOS, NgramConfig(order=3))
    model.save(tmp_path / "ngram")
    loaded = NgramModel.load(tmp_path / "ngram")
    states = [model.start(), (BOS, 5), (9, 9)]
    np.testing.assert_array_equal(model.logprobs(states), loaded.logprobs(states))
    assert not list(tmp_path.glob("ngram/*.pkl"))


def test_more_context_helps_on_the_training_text(corpus):
    bigram = NgramModel.train(corpus, V, BOS, EOS, NgramConfig(order=2))
    fourgram = NgramModel.train(corpus, V, BOS, EOS, NgramConfig(order=4))
    ids = [t for s in corpus[:50] for t in [*s, EOS]]
    assert fourgram.token_logprobs(ids).sum() > bigram.token_logprobs(ids).sum()



def test_the_row_cache_is_bounded_in_bytes_not_rows(corpus, tmp_path):
    """Rows of V float64s: a budget of three rows keeps three, whatever was asked, and the
    answers are the uncached ones."""
    model = NgramModel.train(corpus, V, BOS, EOS, NgramConfig(order=3))
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
