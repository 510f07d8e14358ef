"""The interpolation λ·P_neural + (1 − λ)·P_ngram, entry by entry, as exact as log space."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.evaluation import bits_per_char, tune_weight
from models.loading import load_model
from models.mixture import MixtureLM, interpolate
from models.ngram import NgramConfig
from models.ngram_builder import build_ngram


def _exact(w: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([math.log(w * math.exp(x) + (1 - w) * math.exp(y)) if max(x, y) > -700
                     else max(x, y) + math.log(w * math.exp(x - max(x, y))
                                               + (1 - w) * math.exp(y - max(x, y)))
                     for x, y in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True)])


@pytest.mark.parametrize("w", [0.05, 0.65, 1.0])
@pytest.mark.parametrize("dtype, rtol, deep", [(np.float64, 1e-12, -800.0),
                                               (np.float32, 1e-6, -100.0)])
def test_mix_matches_the_exact_sum_also_where_probabilities_underflow(w, dtype, rtol, deep):
    a = np.log(np.array([[0.5, 0.2, 0.1, 0.1, 0.09, 0.01]], np.float32))  # float32, as torch
    b = np.log(np.array([[0.1, 0.1, 0.1, 0.2, 0.3, 0.2]]))
    got = interpolate(a, b, w, dtype)
    assert got.dtype == dtype and got.shape == (1, 6)
    np.testing.assert_allclose(got.ravel(), _exact(w, a.astype(np.float64), b), rtol=rtol)
    assert np.exp(got.astype(np.float64)).sum() == pytest.approx(1.0, abs=1e-6)
    # both parts below what exp can give in dtype (e^-745, e^-103): no -inf, no warning,
    # the log-space value
    deep_a = np.array([deep, deep - 100, -np.inf])
    deep_b = np.array([deep - 1, -np.inf, -np.inf])
    with np.errstate(all="raise"):
        got = interpolate(deep_a, deep_b, w, dtype)
    if w < 1:
        assert got[0] == pytest.approx(deep + math.log(w + (1 - w) * math.exp(-1)), rel=rtol)
    else:
        assert got[0] == pytest.approx(deep, rel=rtol)
    assert got[1] == pytest.approx(deep - 100 + math.log(w), rel=rtol) and got[2] == -np.inf


def test_batched_scoring_of_a_mixture_equals_line_by_line(rnn_model_dir):
    # bits_per_char scores lines in batches; the sum must be that of each line on its own
    lstm, ngram = load_model(rnn_model_dir, "lstm").engine, load_model(rnn_model_dir, "ngram")
    mix = MixtureLM(lstm.lm, ngram.engine.lm, 0.6)
    tok = lstm.tok
    lines = ["나는 밥을 먹었다", "ㅋㅋㅋ 진짜 웃기다", "오늘날씨좋네", "I ate rice today.", "머"]
    seqs = [[*ids, tok.eos_id] for ids in tok.encode_batch(lines)]
    for got, ids in zip(mix.token_logprobs_batch(seqs), seqs, strict=True):
        np.testing.assert_allclose(got, mix.token_logprobs(ids), atol=1e-6)
    one_by_one = -sum(float(mix.token_logprobs(ids).sum()) for ids in seqs)
    chars = sum(len(x) + 1 for x in lines)
    assert bits_per_char(mix, tok, lines) == pytest.approx(one_by_one / math.log(2) / chars,
                                                           rel=1e-6)


def test_distribution_rows_are_kept_by_state_and_bounded(rnn_model_dir):
    lstm, ngram = load_model(rnn_model_dir, "lstm").engine, load_model(rnn_model_dir, "ngram")
    mix = MixtureLM(lstm.lm, ngram.engine.lm, 0.6, cache_rows=3)
    plain = MixtureLM(lstm.lm, ngram.engine.lm, 0.6, cache_rows=0)
    tok = lstm.tok
    states = [mix.feed(mix.start(), tok.encode(t)) for t in ("나는 밥을", "ㅋㅋ 진짜", "밥먹고",
                                                            "the movie")]
    first = mix.logprobs(states[:2])
    assert first.dtype == np.float32 and np.exp(first.astype(np.float64)).sum(1) == \
        pytest.approx([1.0, 1.0], abs=1e-5)
    again = mix.logprobs([states[1], states[2], states[0]])  # two kept, one new
    np.testing.assert_array_equal(again[[2, 0]], first)
    np.testing.assert_array_equal(again, plain.logprobs([states[1], states[2], states[0]]))
    mix.logprobs(states[3:])
    assert len(mix._rows) == 3 and states[1] not in mix._rows  # least recently used went


def test_the_tuned_weight_gives_the_lowest_bpc_counted_as_the_evaluator_counts(model_dir,
                                                                              sample_corpus):
    """tune_weight on two n-grams (a 4-gram as the "neural" part, a 2-gram): each figure
    is the evaluator's BPC of that model, and no weight of the grid does better."""
    loaded = load_model(model_dir, "ngram")
    tok, four = loaded.engine.tok, loaded.engine.lm
    lines = sample_corpus.read_text(encoding="utf-8").splitlines()
    two = build_ngram(tok.encode_batch(lines[1::2]), tok.vocab_size, tok.bos_id, tok.eos_id,
                      NgramConfig(order=2))
    valid = lines[:300:3]
    weight, figures = tune_weight(four, two, tok, valid)
    assert figures["neural_bpc"] == pytest.approx(bits_per_char(four, tok, valid), rel=1e-12)
    assert figures["ngram_bpc"] == pytest.approx(bits_per_char(two, tok, valid), rel=1e-12)
    assert figures["mixture_bpc"] == pytest.approx(
        bits_per_char(MixtureLM(four, two, weight), tok, valid), rel=1e-9)
    for other in (0.05, 0.5, 1.0):
        assert figures["mixture_bpc"] <= bits_per_char(MixtureLM(four, two, other), tok,
                                                       valid) + 1e-12
