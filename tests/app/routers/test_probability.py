"""POST /probability: the next word(s) given a text, or a whole sentence (natural logs)."""

from __future__ import annotations

import math

import pytest

from tests.app.helpers import serve


def post(client, **body) -> dict:
    r = client.post("/probability", json=body)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(("text", "next_words"), [
    ("나는 밥을", "먹었다"), ("오늘 너무", "힘들어"), ("I really liked the", "movie"),
    ("ㅋㅋㅋ OMG 진짜", "웃기다"),
])
def test_next_word_is_the_engines_word_logprob(client, engine, text, next_words):
    reply = post(client, text=text, next=next_words)
    assert set(reply) == {"probability", "log_prob", "model", "took_ms"}
    assert reply["log_prob"] == pytest.approx(engine.word_logprob(text, next_words))
    assert reply["probability"] == pytest.approx(math.exp(reply["log_prob"]))
    assert reply["model"] == "ngram"


def test_a_likely_word_beats_an_unlikely_one(client):
    likely = post(client, text="나는 밥을", next="먹었다")["log_prob"]
    assert likely > post(client, text="나는 밥을", next="movie")["log_prob"]


def test_several_next_words(client, engine):
    reply = post(client, text="I really", next="liked the movie")
    assert reply["log_prob"] == pytest.approx(engine.word_logprob("I really", "liked the movie"))


@pytest.mark.parametrize("text", ["오늘 너무 힘들어 ㅠㅠ", "나저녁에불고기먹었어",
                                  "Great value for the price"])
def test_sentence_score_and_its_parts(client, engine, text):
    reply = post(client, text=text)
    assert reply["log_prob"] == pytest.approx(engine.score(text).log_prob)
    assert sum(t["log_prob"] for t in reply["tokens"]) == pytest.approx(reply["log_prob"])
    assert reply["tokens"][-1]["piece"] == "</s>"
    assert reply["bits_per_char"] == pytest.approx(
        -reply["log_prob"] / math.log(2) / (len(text) + 1))
    assert reply["perplexity"] == pytest.approx(
        math.exp(-reply["log_prob"] / len(reply["tokens"])))
    assert reply["chars"] == len(text) and reply["model"] == "ngram"


def test_empty_text_is_the_empty_sentence(client):
    reply = post(client, text="")
    assert reply["chars"] == 0 and [t["piece"] for t in reply["tokens"]] == ["</s>"]
    assert reply["log_prob"] < 0


def test_next_null_scores_the_sentence(client):
    assert "tokens" in post(client, text="오늘", next=None)


@pytest.mark.parametrize(("body", "field"), [
    ({"text": "오늘", "next": "   "}, "next"),
    ({"text": "오늘", "next": 3}, "next"),
    ({"next": "movie"}, "text"),
    ({"text": ["a"]}, "text"),
])
def test_bad_fields_are_422_naming_the_field(client, body, field):
    r = client.post("/probability", json=body)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == field


def test_text_over_max_text_chars_is_422(model_dir):
    with serve(model_dir, max_text_chars=20) as c:
        assert c.post("/probability", json={"text": "가" * 20}).status_code == 200
        r = c.post("/probability", json={"text": "가" * 21})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "text"]
        r = c.post("/probability", json={"text": "가", "next": "나" * 21})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "next"]


def test_next_is_bounded_by_max_next_chars(client):
    """A recurrent model reads next a token at a time: its length is what bounds the cost."""
    limit = client.app.state.settings.max_next_chars
    assert limit == 200  # the default
    assert client.post("/probability", json={"text": "오늘", "next": "너" * limit}).status_code \
        == 200
    r = client.post("/probability", json={"text": "오늘", "next": "👍🏽" * 101})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "next"]


@pytest.mark.parametrize(("body", "field", "tokens", "limit"), [
    ({"text": "😀" * 10000}, "text", 40_001, 15_000),  # within max_text_chars, 4x the pieces
    ({"text": "나는", "next": "😀" * 200}, "next", 801, 300),
    ({"text": "😀" * 200, "next": "먹었다"}, "text", 801, 600),  # the context read, with next
])
def test_texts_over_their_token_limits_are_422_saying_the_limit(client, body, field, tokens,
                                                                 limit):
    r = client.post("/probability", json=body)
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", field] and error["type"] == "too_many_tokens"
    assert f"{tokens:,} tokens" in error["msg"] and f"limit of {limit:,}" in error["msg"]


def test_hangul_and_english_of_the_same_length_are_scored(client):
    for text in ["영화 정말 재밌게 봤어요 ㅋㅋ " * 500, "what a great movie " * 500]:  # 9.5K
        r = client.post("/probability", json={"text": text[:10000]})
        assert r.status_code == 200, r.text[:200]
    assert post(client, text="나는 밥을", next="먹었다 " * 30)["log_prob"] < 0


def test_the_token_limits_are_settings(model_dir):
    with serve(model_dir, max_text_tokens=10, max_next_tokens=3) as c:
        assert c.post("/probability", json={"text": "나는 밥을"}).status_code == 200
        r = c.post("/probability", json={"text": "this movie was really very good"})
        assert r.status_code == 422 and "limit of 10" in r.json()["message"]
        r = c.post("/probability", json={"text": "I", "next": "really liked the movie"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "next"]
