"""Hand-written Unicode edge cases against POST and GET /complete and POST /probability:
NUL and control characters, combining marks, right-to-left text, emoji ZWJ sequences,
half-typed Hangul, only spaces, noncharacters; lone surrogates (422, never a 500); a text
of 100 KB (413 by the body limit, or answered where no body carries it); bodies that are
not UTF-8 or not JSON. Every answer keeps the contract and gives back what was typed
exactly (``prefix``)."""

from __future__ import annotations

import json
import math

import pytest

from models import hangul
from tests.app.helpers import serve

CASES = {
    "nul": "나는\x00밥을 머",
    "only nul": "\x00",
    "control": "\x01\x02\x1b[31m영화\x7f ",
    "combining": "cafe\u0301 e\u0301\u0301\u0301",
    "lone combining mark": "\u0301\u0302",
    "hangul jamo combining": "\u1100\u1161\u11a8",  # 각 as conjoining jamo, not precomposed
    "right-to-left": "שלום עולם مرحبا بك",
    "bidi override": "\u202eabc\u202c 영화",
    "emoji zwj": "👨\u200d👩\u200d👧\u200d👦 가족 👍🏽",
    "emoji zwj, next word": "오늘 👩\u200d💻 ",
    "half-typed ㅁ": "ㅁ",
    "half-typed 머": "머",
    "half-typed 먹ㅇ": "나는 밥을 먹ㅇ",
    "only spaces": "   ",
    "unicode spaces": "\u3000\u00a0\u2028\t\n",
    "noncharacters": "\ufeff\ufffe\uffff\U0010ffff",
    "astral": "𝕳𝖊𝖑𝖑𝖔 𠀀𠀁",
}


def partial_word(text: str) -> str:
    """The word being typed, as the API defines it: what follows the last whitespace."""
    cut = len(text)
    while cut and not text[cut - 1].isspace():
        cut -= 1
    return text[cut:]


def contract(reply: dict, typed: str) -> list[str]:
    """A /complete answer keeps the contract and echoes the typed word exactly."""
    assert set(reply) == {"completions", "prefix", "model", "took_ms"}
    assert reply["prefix"] == partial_word(typed)
    for item in reply["completions"]:
        assert isinstance(item["text"], str) and item["text"]
        assert math.isfinite(item["log_prob"]) and item["log_prob"] <= 0
        assert item["probability"] == pytest.approx(math.exp(item["log_prob"]))
    return [item["text"] for item in reply["completions"]]


@pytest.mark.parametrize("name", CASES)
def test_complete_post_and_get_answer_every_edge_case(client, name):
    text = CASES[name]
    posted = client.post("/complete", json={"text": text, "k": 5})
    assert posted.status_code == 200, posted.text
    words = contract(posted.json(), text)
    got = client.get("/complete", params={"q": text, "k": 5})
    assert got.status_code == 200, got.text
    assert got.json()["completions"] == posted.json()["completions"]
    assert got.json()["prefix"] == posted.json()["prefix"]
    if not partial_word(text):  # the next word: the model always has one
        assert words


@pytest.mark.parametrize("name", CASES)
def test_probability_scores_every_edge_case(client, name):
    text = CASES[name]
    r = client.post("/probability", json={"text": text})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["chars"] == len(text) and math.isfinite(body["log_prob"])
    assert body["log_prob"] <= 0 and body["tokens"][-1]["piece"] == "</s>"
    assert sum(t["log_prob"] for t in body["tokens"]) == pytest.approx(body["log_prob"])
    r = client.post("/probability", json={"text": "오늘", "next": text})
    if text.split():
        assert r.status_code == 200, r.text
        assert r.json()["log_prob"] <= 0
    else:  # nothing but whitespace (or nothing) is no next word
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "next"]


@pytest.mark.parametrize(("typed", "context"), [("ㅁ", ""), ("머", "나는 밥을 "),
                                                ("먹ㅇ", "나는 밥을 ")])
def test_half_typed_hangul_offers_words_it_can_become(client, typed, context):
    words = contract(client.post("/complete", json={"text": context + typed, "k": 5}).json(),
                     context + typed)
    assert words and all(hangul.can_become(typed, w) for w in words), words


@pytest.mark.parametrize("raw", [r'"\ud800"', r'"abc \udfff"', r'"\udc00\ud800 x"',
                                 r'"\ud83d"', r'"ok \ude00 "'])
def test_a_lone_surrogate_is_422_naming_the_field(client, raw):
    headers = {"content-type": "application/json"}
    for path, body, field in [("/complete", f'{{"text": {raw}}}', "text"),
                              ("/probability", f'{{"text": {raw}}}', "text"),
                              ("/probability", f'{{"text": "오늘", "next": {raw}}}', "next")]:
        r = client.post(path, content=body.encode(), headers=headers)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["detail"][0]["loc"] == ["body", field]
        assert "surrogate" in r.json()["message"]


def test_a_surrogate_pair_is_one_character(client):
    r = client.post("/complete", content=rb'{"text": "\ud83d\ude00 \ud83d\ude00"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json()["prefix"] == "😀"


def test_surrogates_in_a_query_arrive_as_replacement_characters(client):
    r = client.get("/complete?q=%ED%A0%80&k=3")  # UTF-8 of U+D800, which UTF-8 forbids
    assert r.status_code == 200 and r.json()["prefix"] == "\ufffd" * 3


def test_100_kb_of_text_is_refused_by_the_body_limit_or_answered(client):
    settings = client.app.state.settings
    text = "영화 너무 재밌었어요 ㅋㅋ " * 7000  # 100,000 characters, 240 KB of UTF-8
    assert len(text) >= 100_000 and len(json.dumps({"text": text})) > settings.max_body_bytes
    for path in ("/complete", "/probability"):
        r = client.post(path, json={"text": text})
        assert r.status_code == 413 and str(settings.max_body_bytes) in r.json()["detail"]
    # a query carries no body: as long as the URL gets through (uvicorn refuses a request
    # line of 100 KB with 400, see test_drills.py), only the end of the context is read
    r = client.get("/complete", params={"q": "movie " * 8000 + "재미", "k": 3})
    assert r.status_code == 200 and r.json()["prefix"] == "재미"


def test_a_text_within_the_body_limit_but_over_max_text_chars(client):
    settings = client.app.state.settings
    text = "a " * (settings.max_text_chars // 2) + "movie"  # about 10 KB, under 64 KiB
    assert len(text) > settings.max_text_chars
    assert len(json.dumps({"text": text})) < settings.max_body_bytes
    assert client.post("/complete", json={"text": text}).status_code == 200
    r = client.post("/probability", json={"text": text})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "text"]


def test_100_kb_is_answered_where_the_limits_allow_it(model_dir):
    text = "this movie is great " * 5000  # 100,000 characters
    # the limits are what is checked, not the speed: a busy machine may take seconds
    with serve(model_dir, max_body_bytes=256 * 1024, max_text_chars=200_000,
               max_text_tokens=200_000,  # the pieces are bounded too
               deadline_ms=120_000, ngram_deadline_ms=120_000) as c:
        r = c.post("/complete", json={"text": text + "mo", "k": 3})
        assert r.status_code == 200 and "movie" in contract(r.json(), text + "mo")
        r = c.post("/probability", json={"text": text})
        assert r.status_code == 200 and r.json()["chars"] == len(text)


def test_a_body_that_is_not_utf8_is_400(client):
    r = client.post("/complete", content=b'{"text": "\xff\xfe"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json() == {"detail": "There was an error parsing the body"}


def test_json_without_a_json_content_type_says_so(client):
    r = client.post("/complete", content=b'{"text": "hello"}',
                    headers={"content-type": "text/plain"})
    assert r.status_code == 422 and "Content-Type: application/json" in r.json()["message"]


@pytest.mark.parametrize("k", [3.0, 1.0])
def test_a_whole_number_written_with_a_fraction_is_an_integer(client, k):
    r = client.post("/complete", json={"text": "오늘 ", "k": k})
    assert r.status_code == 200 and len(r.json()["completions"]) == int(k)
