import math

import numpy as np
import pytest

from models import hangul
from models.completion import split_text

EATEN = ["ㅁ", "머", "먹", "먹ㅇ", "먹어", "먹었", "먹었ㄷ"]


def texts(completions):
    return [c.text for c in completions]


def test_split_text():
    assert split_text("") == ("", "")
    assert split_text("나는 밥을 ") == ("나는 밥을 ", "")
    assert split_text("나는 밥을 머") == ("나는 밥을 ", "머")
    assert split_text("오늘진짜") == ("", "오늘진짜")
    assert split_text("a\tb") == ("a\t", "b")


def test_next_word_after_a_space(engine):
    assert texts(engine.complete("나는 밥을 ", k=3))[0] == "먹었다"
    assert "movie" in texts(engine.complete("I really liked the ", k=3))


def test_next_word_of_an_empty_text_is_a_sentence_start(engine):
    out = engine.complete("", k=5)
    assert len(out) == 5 and all(" " not in c.text and c.text for c in out)


@pytest.mark.parametrize("typed", EATEN)
def test_every_keystroke_of_a_half_typed_syllable_finds_the_word(engine, typed):
    assert "먹었다" in texts(engine.complete("나는 밥을 " + typed, k=3))


def test_half_typed_syllables_that_become_two(engine):
    assert "가방" in texts(engine.complete("가바", k=5))
    assert "가방을" in texts(engine.complete("오늘 갑", k=5))
    assert "와서" in texts(engine.complete("친구가 집에 오", k=3))


def test_every_completion_agrees_with_the_keys_typed(engine):
    for text in ["나는 밥을 머", "오늘 가바", "I really liked the mo", "ㅋ", "진짜 너"]:
        partial = split_text(text)[1]
        out = engine.complete(text, k=10)
        assert out, text
        for c in out:
            assert hangul.can_become(partial, c.text), (text, c.text)


def test_a_partial_word_that_ends_inside_a_token(engine):
    pieces = engine.tok.pieces("먹었다")
    assert pieces[0].startswith("\u2581먹") and len(pieces[0]) > 2  # 먹 is inside a piece
    assert engine.tok.pieces("먹") != pieces[:1]
    assert texts(engine.complete("점심에 김치찌개 먹", k=3))[:3].count("먹었다") == 1


def test_results_are_sorted_unique_real_probabilities(engine):
    for text in ["", "오늘 ", "나는 밥을 먹", "the mo"]:
        out = engine.complete(text, k=10)
        lps = [c.log_prob for c in out]
        assert lps == sorted(lps, reverse=True)
        assert len(set(texts(out))) == len(out)
        assert sum(c.probability for c in out) <= 1 + 1e-9
        context, _ = split_text(text)
        for c in out:
            assert c.log_prob == pytest.approx(engine.word_logprob(context, c.text), abs=1e-9)


def test_phrases_of_several_words(engine):
    out = engine.complete("나는 ", k=5, max_words=2)
    assert out
    for c in out:
        assert 1 <= len(c.text.split()) <= 2
        assert c.log_prob <= 0
    two = [c for c in out if len(c.text.split()) == 2]
    assert two
    for c in two:
        assert c.log_prob == pytest.approx(engine.word_logprob("나는 ", c.text), abs=1e-9)
    three = engine.complete("점심에 ", k=10, max_words=3)
    assert any(len(c.text.split()) == 3 for c in three)
    assert all(len(c.text.split()) <= 3 for c in three)


def test_answers_are_identical_with_and_without_the_state_cache(engine):
    sentence = "어제 친구랑 강남역에서 삼겹살 먹었다"
    for i in range(len(sentence) + 1):
        text = sentence[:i]
        cached = engine.complete(text, k=5, max_words=2)
        fresh = engine.complete(text, k=5, max_words=2, use_cache=False)
        assert cached == fresh, text
    assert engine.cache_hits > 0


def test_long_context_is_cut_not_refused(engine):
    text = "오늘 진짜 " * 2000 + "먹"
    out = engine.complete(text, k=3)
    assert out and all(hangul.can_become("먹", c.text) for c in out)


def test_whole_text_score(engine):
    s = engine.score("나는 밥을 먹었다")
    assert s.log_prob == pytest.approx(sum(v for _, v in s.tokens))
    assert s.tokens[-1][0] == "</s>"
    chars = len("나는 밥을 먹었다") + 1
    assert s.bits_per_char == pytest.approx(-s.log_prob / math.log(2) / chars)
    assert engine.score("나는 밥을 먹었다").log_prob > engine.score("다었먹 을밥 는나").log_prob
    assert np.isfinite(engine.score("완전히 처음 보는 문장 𝄞 zxqv").log_prob)
    assert engine.score("").tokens == [("</s>", engine.score("").log_prob)]


def test_word_probability_is_a_probability(engine):
    likely = engine.word_logprob("나는 밥을 ", "먹었다")
    unlikely = engine.word_logprob("나는 밥을 ", "movie")
    assert unlikely < likely <= 0
    with pytest.raises(ValueError):
        engine.word_logprob("나는 ", "   ")
