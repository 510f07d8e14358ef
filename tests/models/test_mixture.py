"""The interpolation λ·P_neural + (1 − λ)·P_ngram, entry by entry, as exact as log space."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.evaluation import bits_per_char
from models.loading import load_model
from models.mixture import MixtureLM, interpolate


def _exact(w: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([math.log(w * math.exp(x) + (1 - w) * math.exp(y)) if max(x, y) > -700
                     else max(x, y) + math.log(w * math.exp(x - max(x, y))
                                               + (1 - w) * math.exp(y - max(x, y)))
                     for x, y in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True)])


@pytest.mark.parametrize("w", [0.05, 0.65, 1.0])
def test_mix_matches_the_exact_sum_also_where_probabilities_underflow(w):
    a = np.log(np.array([[0.5, 0.2, 0.1, 0.1, 0.09, 0.01]], np.float32))  # float32, as torch
    b = np.log(np.array([[0.1, 0.1, 0.1, 0.2, 0.3, 0.2]]))
    got = interpolate(a, b, w)
    assert got.dtype == np.float64 and got.shape == (1, 6)
    np.testing.assert_allclose(got.ravel(), _exact(w, a.astype(np.float64), b), rtol=1e-12)
    assert np.exp(got).sum() == pytest.approx(1.0, abs=1e-6)
    # both parts below e^-745: no -inf, no warning, the log-space value
    deep_a, deep_b = np.array([-800.0, -900.0, -np.inf]), np.array([-801.0, -np.inf, -np.inf])
    with np.errstate(all="raise"):
        deep = interpolate(deep_a, deep_b, w)
    if w < 1:
        assert deep[0] == pytest.approx(-800 + math.log(w + (1 - w) * math.exp(-1)), abs=1e-9)
    else:
        assert deep[0] == pytest.approx(-800.0)
    assert deep[1] == pytest.approx(-900 + math.log(w)) and deep[2] == -np.inf


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
