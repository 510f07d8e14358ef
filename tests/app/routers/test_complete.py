"""POST and GET /complete: the benchmark's contract, Korean (half-typed, informal, without
spaces) and English, limits and errors."""

from __future__ import annotations

import math

import pytest

from models import hangul


def check_contract(reply: dict, k: int, prefix: str) -> list[str]:
    """The contract of shared/bench/autocomplete_eval.py and of our extra fields."""
    assert set(reply) == {"completions", "prefix", "model", "took_ms"}
    items = reply["completions"]
    assert isinstance(items, list) and len(items) <= k
    for item in items:
        assert isinstance(item["text"], str) and item["text"]
        assert math.isfinite(item["log_prob"]) and item["log_prob"] <= 0
        assert item["probability"] == pytest.approx(math.exp(item["log_prob"]))
    probs = [c["log_prob"] for c in items]
    assert probs == sorted(probs, reverse=True)  # best first
    assert reply["prefix"] == prefix
    assert reply["model"] == "ngram" and reply["took_ms"] >= 0
    return [c["text"] for c in items]


def post(client, text: str, **kw) -> dict:
    r = client.post("/complete", json={"text": text, **kw})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("typed", hangul.screens("먹었다")[:-1])
def test_every_keystroke_of_a_korean_word_finds_it(client, typed):
    reply = post(client, "나는 밥을 " + typed, k=3)
    assert "먹었다" in check_contract(reply, 3, typed)


def test_half_typed_syllable_that_becomes_two(client):
    assert "가방" in check_contract(post(client, "가바"), 5, "가바")


def test_korean_without_spaces_completes_the_run_being_typed(client):
    reply = post(client, "나저녁에불고기머", k=5)
    check_contract(reply, 5, "나저녁에불고기머")


def test_korean_next_word(client):
    words = check_contract(post(client, "오늘 너무 ", k=5), 5, "")
    assert words and all(" " not in w for w in words)


def test_english_prefix_and_next_word(client):
    assert "movie" in check_contract(post(client, "I really liked the mo", k=3), 3, "mo")
    assert "movie" in check_contract(post(client, "I really liked the ", k=3), 3, "")


def test_empty_text_asks_for_the_first_word(client):
    words = check_contract(post(client, ""), 5, "")
    assert len(words) == 5


def test_phrases_of_up_to_max_words(client):
    words = check_contract(post(client, "I really liked the ", k=5, max_words=2), 5, "")
    assert any(" " in w for w in words) and all(len(w.split()) <= 2 for w in words)


def test_long_text_is_never_an_error(client):
    text = "영화 너무 재밌었어요 ㅋㅋ " * 600 + "재미"  # 10K characters: the context is cut
    check_contract(post(client, text, k=3), 3, "재미")


def test_server_timing_names_the_model(client):
    r = client.post("/complete", json={"text": "ㅋㅋ 진짜 웃"})
    assert r.status_code == 200
    assert r.headers["server-timing"].startswith("model;dur=")
    assert 'desc="ngram"' in r.headers["server-timing"]


def test_get_is_the_same_answer_and_cacheable(client):
    posted = post(client, "나는 밥을 머", k=3)
    r = client.get("/complete", params={"q": "나는 밥을 머", "k": 3})
    assert r.status_code == 200
    assert "max-age=" in r.headers["cache-control"]
    got = r.json()
    assert got["completions"] == posted["completions"] and got["prefix"] == "머"


def test_get_without_q_is_the_next_word_of_nothing(client):
    r = client.get("/complete")
    assert r.status_code == 200 and r.json()["prefix"] == ""


@pytest.mark.parametrize(("body", "field"), [
    ({"text": "영화", "k": 21}, "k"),
    ({"text": "영화", "k": 0}, "k"),
    ({"text": "영화", "k": "3"}, "k"),
    ({"text": "영화", "k": 2.5}, "k"),
    ({"text": "movie", "max_words": 4}, "max_words"),
    ({"text": "movie", "max_words": 0}, "max_words"),
    ({"text": None}, "text"),
    ({"text": 42}, "text"),
    ({"k": 3}, "text"),
])
def test_bad_fields_are_422_naming_the_field(client, body, field):
    r = client.post("/complete", json=body)
    assert r.status_code == 422
    reply = r.json()
    assert any(e["loc"][-1] == field for e in reply["detail"])
    assert reply["message"].startswith(field + ":")


def test_bad_query_parameters_are_422(client):
    r = client.get("/complete", params={"q": "영화", "k": "many"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "k"]
    r = client.get("/complete", params={"q": "영화", "k": 99})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "k"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b""])
def test_invalid_json_is_422(client, raw):
    r = client.post("/complete", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["message"]


def test_limits_come_from_settings(model_dir):
    from tests.app.conftest import serve

    with serve(model_dir, k_max=3, max_words_max=1) as c:
        assert c.post("/complete", json={"text": "오늘", "k": 4}).status_code == 422
        reply = c.post("/complete", json={"text": "오늘 "}).json()  # the default k is capped
        assert len(reply["completions"]) <= 3
        assert c.post("/complete", json={"text": "I ", "max_words": 2}).status_code == 422
