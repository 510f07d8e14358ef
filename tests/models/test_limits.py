"""What a request may cost, counted in pieces, and the memo tables that keep only what the
vocabulary makes (models/limits.py, the engine's tables in models/completion.py)."""

from __future__ import annotations

import pytest

from models import hangul
from models.completion import CompletionEngine, split_text
from models.limits import (
    TokenLimits,
    TooManyTokens,
    check_probability,
    check_tokens,
    completion_admitted,
)

LIMITS = TokenLimits(context=60, text=100, next=20)


def test_emoji_cost_a_piece_a_byte_hangul_and_english_far_less(engine):
    tok = engine.tok
    assert len(tok.encode("😀" * 10)) == 41  # the word marker and 4 bytes each
    assert len(tok.encode("나는 밥을 먹었다 ㅋㅋ")) < len("나는 밥을 먹었다 ㅋㅋ")
    assert len(tok.encode("this movie is great")) < len("this movie is great")
    for text in ["😀" * 10, "나는 밥을 먹었다 ㅋㅋ", "뷁뷁뷁", "this movie"]:  # the bound used
        assert len(tok.encode(text)) <= len(text.encode()) + 1


def test_check_tokens_names_the_part_the_count_and_the_limit(engine):
    check_tokens(engine.tok, "text", "😀" * 24, 100)  # 97 pieces
    with pytest.raises(TooManyTokens) as caught:
        check_tokens(engine.tok, "text", "😀" * 25, 100)  # 101 pieces
    e = caught.value
    assert (e.part, e.tokens, e.limit) == ("text", 101, 100)
    assert "101 tokens" in str(e) and "limit of 100" in str(e)


def test_a_short_text_is_passed_without_encoding(engine, monkeypatch):
    def refuse(text):
        raise AssertionError("encoded")

    monkeypatch.setattr(engine.tok, "encode", refuse)
    check_tokens(engine.tok, "text", "나는 밥을", 100)  # 13 bytes: cannot be over 100 pieces


def test_the_context_the_engine_reads_is_counted(engine):
    assert completion_admitted(engine, "오늘 너무 재미", LIMITS)
    assert completion_admitted(engine, "this movie is rea", LIMITS)
    with pytest.raises(TooManyTokens) as caught:
        completion_admitted(engine, "😀" * 20 + " 재미", LIMITS)
    assert caught.value.part == "context" and caught.value.tokens > 60
    # only the end is read: emoji far back, beyond max_context_chars, cost nothing
    far = "😀" * 200 + " " + "나는 밥을 " * (engine.max_context_chars // 6 + 1) + "머"
    assert len(engine.tok.encode(far)) > TokenLimits().context
    assert completion_admitted(engine, far, TokenLimits())


def test_a_word_longer_than_any_completion_gets_no_search(engine):
    longest = engine.max_word_keys
    assert longest >= engine.max_word_pieces  # every piece has a key or more
    assert not completion_admitted(engine, "나는 " + "a" * (longest + 1), LIMITS)
    assert not completion_admitted(engine, "나는 " + "각" * (longest // 3 + 1), LIMITS)  # 3 keys
    assert completion_admitted(engine, "나는 밥을 머", LIMITS)
    # and indeed: nothing completes a word that long (the engine's own answer)
    assert engine.complete("나는 " + "먹" * (longest // 3 + 1), k=5) == []


def test_probability_text_next_and_its_context(engine):
    check_probability(engine, "나는 밥을 먹었다", None, LIMITS)
    check_probability(engine, "나는 밥을", "먹었다", LIMITS)
    with pytest.raises(TooManyTokens, match="the text is"):
        check_probability(engine, "😀" * 30, None, LIMITS)
    with pytest.raises(TooManyTokens) as caught:
        check_probability(engine, "I really liked the", "😀 😀 😀 😀 😀 😀", LIMITS)
    assert caught.value.part == "next" and caught.value.tokens == 30  # word by word: 6 x 5
    with pytest.raises(TooManyTokens) as caught:
        check_probability(engine, "😀" * 20, "movie", LIMITS)
    assert caught.value.part == "context"


def test_long_typed_words_leave_the_memo_tables_as_they_were(engine):
    """What users type is not memoised: 30 distinct 3,000-character words add no entry to
    hangul's keystroke table, and words that differ only beyond what a piece can tell apart
    share one entry of the allowed-piece table (each would have held its whole keys)."""
    fresh = CompletionEngine(engine.tok, engine.lm)
    keys_before = hangul._keys.cache_info().currsize
    start = "먹었" * fresh._piece_keys
    for i in range(30):
        word = start + "".join(chr(0xAC00 + (i * 7919 + j * 31) % 11172) for j in range(3000))
        fresh._allowed(hangul.keys(word), True)
    assert hangul._keys.cache_info().currsize == keys_before
    assert fresh._allowed_memo.cache_info().currsize == 1
    assert fresh._allowed_memo.cache_info().hits == 29


def test_cut_keys_allow_exactly_the_pieces_the_whole_keys_allow(engine):
    """The allowed-piece table is keyed on the keys cut to one more than the longest
    piece's: for any typed word, the pieces it allows are those the whole keys allow."""
    for typed in ["먹었다", "재미있게봤어요", "ㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋ", "a" * 200,
                  "thismovieisreallygreatandiloveditsomuch"]:
        rest = hangul.keys(typed)
        for starts in (True, False):
            whole = engine._allowed_uncached(rest, starts)
            assert list(engine._allowed(rest, starts)) == list(whole), (typed, starts)


def test_split_is_what_the_limits_read():
    assert split_text("나는 밥을 머") == ("나는 밥을 ", "머")
