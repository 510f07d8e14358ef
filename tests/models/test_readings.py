"""Other readings of the typed keys: initials (ㅅㄱ → 사과), the wrong keyboard mode
(dkssud → 안녕), one wrong key (먹엇다 → 먹었다); the keys as typed keep their answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models import hangul
from models.batching import StepScheduler, serve_one
from models.completion import CompletionEngine
from models.loading import load_model
from models.readings import (
    EVERY,
    LITERAL,
    PieceIndex,
    Readings,
    agrees,
    alternative,
    initials_key,
)
from models.training import TrainOptions, train_ngram_directory

# Informal Korean the bundled corpus lacks, written here; the rest is the bundled corpus.
EXTRA = """사과 하나 먹었다
사과를 샀다
오늘 사과 두 개 먹었다
안녕 반가워
안녕 오늘 뭐해
안녕하세요 반갑습니다
나는 밥을 먹었다
점심에 라면을 먹었다
"""


def latin(text: str) -> str:
    """``text`` as a keyboard left in English mode sends it."""
    return "".join(hangul.LATIN_OF_JAMO.get(k, k) for k in hangul.keys(text))


def texts(completions) -> list[str]:
    return [c.text for c in completions]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, sample_corpus: Path) -> CompletionEngine:
    """A 3-gram on the bundled corpus and the lines above (each three times)."""
    root = tmp_path_factory.mktemp("readings")
    corpus = root / "corpus.txt"
    corpus.write_text(sample_corpus.read_text(encoding="utf-8") + EXTRA * 3, encoding="utf-8")
    train_ngram_directory(TrainOptions(corpus=corpus, out=root / "model", order=3,
                                       progress=False))
    return load_model(root / "model", "ngram").engine


def test_initials_find_the_word_and_say_so(engine):
    out = engine.complete("ㅅㄱ", k=5)
    assert "사과" in texts(out)
    assert {c.match for c in out if c.text == "사과"} == {"initials"}
    assert all(hangul.initials(c.text).startswith("ㅅㄱ") for c in out if c.match == "initials")
    assert "사과를" in texts(engine.complete("ㅅㄱㄹ", k=5))
    assert "사과" in texts(engine.complete("오늘 ㅅㄱ", k=5))
    assert "사과" not in texts(engine.complete("ㅅㄱ", k=5, readings=LITERAL))


def test_consonants_written_as_words_still_complete_as_typed(engine):
    out = engine.complete("ㅋㅋ", k=3)
    assert out[0].text == "ㅋㅋㅋ" and out[0].match == "exact"
    assert out[0] == engine.complete("ㅋㅋ", k=3, readings=LITERAL)[0]
    for text in ["와대박ㅋ", "진짜 ㅋㅋㅋ", "ㅠㅠ"]:
        assert engine.complete(text, k=3)[0] == engine.complete(text, k=3, readings=LITERAL)[0]


def test_the_wrong_keyboard_mode_is_read_as_hangul(engine):
    assert latin("안녕") == "dkssud" and latin("먹었다") == "ajrdjTek"
    out = engine.complete("dkssud", k=3)
    assert out[0].text == "안녕" and out[0].match == "layout" and out[0].context is None
    assert "먹었다" in texts(engine.complete("나는 밥을 ajrdjTek", k=3))
    assert "먹었다" in texts(engine.complete("나는 밥을 ajrdjT", k=3))  # 먹었, half-typed
    assert "안녕" not in texts(engine.complete("dkssud", k=3, readings=LITERAL))


def test_english_stays_english(engine):
    for text, word in [("I really liked the movi", "movie"), ("I really liked the mo", "movie"),
                       ("The movie was really amazin", "amazing"), ("I really liked th", "the")]:
        out = engine.complete(text, k=3)
        assert out[0].text == word and out[0].match == "exact", (text, out)
    assert engine.complete("I really liked the ", k=3)[0].context is None


def test_a_context_typed_in_english_mode_is_read_as_hangul(engine):
    typed = latin("나는 밥을 ")
    assert typed == "sksms qkqdmf "
    out = engine.complete(typed + "ajrdjT", k=3)
    assert out[0].text == "먹었다" and out[0].match == "layout"
    assert out[0].context == "나는 밥을 "  # the whole text becomes context + text
    assert engine.complete(typed, k=3)[0].context == "나는 밥을 "  # the next word too
    assert all(c.context is None for c in engine.complete(typed, k=3,
                                                          readings=Readings(layout=False)))


@pytest.mark.parametrize("typed", ["먹엇다", "먹었자", "먹엇"])  # Shift missed; ㄷ→ㅈ (e→w)
def test_one_wrong_key_is_found(engine, typed):
    out = engine.complete("나는 밥을 " + typed, k=3)
    assert "먹었다" in texts(out)
    assert {c.match for c in out if c.text == "먹었다"} == {"typo"}
    assert "먹었다" not in texts(engine.complete("나는 밥을 " + typed, k=3,
                                                 readings=Readings(typo=False)))


def test_a_typo_reading_pays_its_penalty(engine):
    cheap, dear = Readings(typo_cost=-1.0), Readings(typo_cost=-5.0)
    a = {c.text: c.log_prob for c in engine.complete("나는 밥을 먹엇다", k=5, readings=cheap)}
    b = {c.text: c.log_prob for c in engine.complete("나는 밥을 먹엇다", k=5, readings=dear)}
    assert a["먹었다"] - b["먹었다"] == pytest.approx(4.0)
    assert a["먹었다"] == pytest.approx(engine.word_logprob("나는 밥을", "먹었다") - 1.0)


EXACT = ["나는 밥을 머", "나는 밥을 먹었", "영화 너무 재", "오늘 가바", "정말재미",
         "가방 정말 예뻐", "I really liked the mo", "this movie is rea", "ㅋ", "오늘 ", "",
         "나는 밥을 먹었다 그리고 "]


@pytest.mark.parametrize("text", EXACT)
def test_exact_typing_keeps_its_answers(engine, text):
    """Every word of the keys as typed that is shown is shown in the same order with the
    same probability as with no other reading, and one of another reading shows only
    where it is more likely, penalty and all."""
    literal = engine.complete(text, k=10, readings=LITERAL)
    every = engine.complete(text, k=10, readings=EVERY)
    exact = [c for c in every if c.match == "exact"]
    assert [c.text for c in exact] == [c.text for c in literal[: len(exact)]]
    assert [c.log_prob for c in exact] == pytest.approx([c.log_prob for c in literal[: len(exact)]])
    shown = len(exact)
    for c in every:
        if c.match != "exact" and shown < len(literal):
            assert c.log_prob >= literal[shown].log_prob


@pytest.mark.parametrize("text, switch", [
    ("ㅅㄱ", "initials"), ("오늘 ㅅㄱㄹ", "initials"), ("dkssud", "layout"),
    ("sksms qkqdmf ajrdjT", "layout"), ("sksms qkqdmf ", "layout"), ("나는 밥을 먹엇다", "typo"),
])
def test_each_switch_off_gives_the_literal_answers(engine, text, switch):
    others = {"initials", "layout", "typo"} - {switch}
    on = engine.complete(text, k=5, readings=Readings(**{s: False for s in others}))
    off = engine.complete(text, k=5, readings=LITERAL)
    assert on != off  # the switch changes something here...
    every_but = Readings(**{switch: False})
    assert engine.complete(text, k=5, readings=every_but) == off  # ...and off, nothing
    assert all(c.match == "exact" and c.context is None for c in off)


def count_needs(engine: CompletionEngine, text: str) -> tuple[int, int]:
    """Model calls a search needs, and the most states one of them reads."""
    search = engine.search_complete(text, k=20, max_words=3)
    calls, widest = 0, 0
    need = next(search)
    try:
        while True:
            calls += 1
            if need[0] in ("rows", "advance", "feed"):
                widest = max(widest, len(need[1]))
            need = search.send(serve_one(engine.lm, need))
    except StopIteration:
        return calls, widest


@pytest.mark.parametrize("run", ["ㅅㄱ" * 12, "ㄱ" * 40, "dk" * 30, "dkssud" * 8, "qwerty" * 6,
                                 "먹었다" * 10, "ㅋ" * 60, "먹엇다", "갸갸갸"])
def test_a_long_run_of_consonants_or_latin_letters_stays_bounded(engine, run):
    """The rounds are those of the literal search (its pieces a word and words a phrase),
    twice at most (a typo is searched after it), the states a round at most the two
    beams' (and once, as a typo branches off, the literal hypotheses it had)."""
    rounds = engine.max_word_pieces * 3 + 1
    for text in [run, "오늘 " + run, latin("나는 밥을 ") + run]:
        calls, widest = count_needs(engine, text)
        # rows and advance a round, the context's feed and its two scores (English mode)
        assert calls <= 2 * 2 * rounds + 3, (text, calls)
        assert widest <= engine.beam_size * (rounds + 1), (text, widest)
        if getattr(alternative(run, EVERY, rounds), "kind", None) != "typo":
            assert widest <= 2 * engine.beam_size, (text, widest)


def test_batched_searches_with_readings_answer_as_alone(engine):
    batch = ["ㅅㄱ", "dkssud", "나는 밥을 먹엇다", "sksms qkqdmf ajrdjT", "ㅋㅋ", "나는 밥을 머"]
    alone = [engine.complete(t, k=3, use_cache=False) for t in batch]
    scheduler = StepScheduler(engine.lm)
    try:
        futures = [scheduler.submit(engine.search_complete, t, 3, 1, False) for t in batch]
        assert [f.result(30) for f in futures] == alone
    finally:
        scheduler.close()


def test_other_readings_of_a_partial_word():
    r = Readings()
    assert alternative("ㅅㄱ", r, 20).kind == "initials"
    assert alternative("ㅋㅋㅋ", r, 20).patterns == ("ㅋㅋㅋ",)
    assert alternative("ㅅ", r, 20) is None  # one consonant: the keys as typed say it all
    assert alternative("ㅅㄱ" * 11, r, 20) is None  # more syllables than a word has
    assert alternative("dkssud", r, 20).patterns == ("ㅇㅏㄴㄴㅕㅇ",)
    assert alternative("movie", r, 20) is None
    typo = alternative("먹엇", r, 20)
    assert typo.kind == "typo" and hangul.keys("먹었") in typo.patterns
    assert hangul.keys("먹엇") not in typo.patterns
    assert all(len(p) == len(hangul.keys("먹엇")) for p in typo.patterns)
    assert alternative("먹", r, 20) is None  # three keys: too few to tell a typo
    assert alternative("먹었다" * 3, r, 20) is None  # too many
    assert alternative("ㅅㄱ", Readings(initials=False), 20) is None
    assert alternative("dkssud", Readings(layout=False), 20) is None
    assert alternative("먹엇", Readings(typo=False), 20) is None


def test_the_initials_of_a_piece():
    assert initials_key("사과") == "ㅅㄱ"
    assert initials_key("과를!") == "ㄱㄹ\x00"  # nothing can follow the !
    assert initials_key("") == "" and initials_key("ㅋㅋ") == "\x00"


def test_a_piece_is_allowed_exactly_when_it_agrees(engine):
    """PieceIndex.allowed (bisect and lookups) against agrees (the definition), for the
    keys and the initials of the vocabulary's pieces."""
    texts_ = engine.tok.piece_text
    for key in (hangul.keys, initials_key):
        index = PieceIndex(texts_, engine.tok.starts_word, key)
        for rest in ["", "ㅅ", "ㅅㄱ", "ㅁㅓㄱㅇㅓㅆ", "ㅇㅏㄴ", "mo", "ㅋㅋㅋㅋ", "zz"]:
            for starts in (True, False):
                want = [i for i in index.all[starts].tolist() if agrees(rest, index.keys[i],
                                                                        starts)]
                assert np.array_equal(index.allowed(rest, starts), want), (key, rest, starts)
