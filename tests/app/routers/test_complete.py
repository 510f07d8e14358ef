"""POST and GET /complete: the benchmark's contract, Korean (half-typed, informal, without
spaces) and English, limits and errors."""

from __future__ import annotations

import math

import pytest

from models import hangul
from tests.app.helpers import serve


def check_contract(reply: dict, k: int, prefix: str) -> list[str]:
    """The contract of shared/bench/autocomplete_eval.py and of our extra fields."""
    assert set(reply) == {"completions", "prefix", "model", "took_ms"}
    items = reply["completions"]
    assert isinstance(items, list) and len(items) <= k
    for item in items:
        assert isinstance(item["text"], str) and item["text"]
        assert item["match"] in {"exact", "initials", "layout", "typo"}
        assert item["context"] is None or isinstance(item["context"], str)
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
    with serve(model_dir, k_max=3, max_words_max=1) as c:
        assert c.post("/complete", json={"text": "오늘", "k": 4}).status_code == 422
        reply = c.post("/complete", json={"text": "오늘 "}).json()  # the default k is capped
        assert len(reply["completions"]) <= 3
        assert c.post("/complete", json={"text": "I ", "max_words": 2}).status_code == 422


@pytest.mark.parametrize("where", ["post", "get"])
def test_a_context_over_its_token_limit_is_422_saying_the_limit(client, where):
    """Emoji are four pieces each: 200 of them in the context the model reads are 801
    pieces, over AUTOCOMPLETE_MAX_CONTEXT_TOKENS (600); the same number of Hangul
    characters is well under it."""
    text = "😀" * 200 + " 재미"
    r = (client.post("/complete", json={"text": text}) if where == "post"
         else client.get("/complete", params={"q": text}))
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == (["body", "text"] if where == "post" else ["query", "q"])
    assert error["type"] == "too_many_tokens" and "over the limit of 600" in error["msg"]
    assert "801 tokens" in error["msg"]
    ok = client.post("/complete", json={"text": "영화재밌다ㅋㅋ" * 28 + " 재미"})  # 196 chars
    assert ok.status_code == 200 and ok.json()["prefix"] == "재미"


def test_the_context_token_limit_is_a_setting(model_dir):
    with serve(model_dir, max_context_tokens=20) as c:
        r = c.post("/complete", json={"text": "this movie is really great and I loved it so "})
        assert r.status_code == 422 and "limit of 20" in r.json()["message"]
        assert c.post("/complete", json={"text": "나는 밥을 머"}).status_code == 200


def test_a_word_longer_than_any_completion_is_answered_empty(client):
    engine = client.app.state.service.snapshot.ngram.model.engine
    cached = len(engine._cache)
    for word in ["a" * 40_000, "먹" * 5000, "ㅋ" * 20_000]:
        for text in [word, "this movie is " + word]:
            r = client.post("/complete", json={"text": text, "k": 20, "max_words": 3})
            assert r.status_code == 200 and r.json()["completions"] == []
            assert r.json()["prefix"] == word
    assert len(engine._cache) == cached  # no model state was made for them


def test_took_ms_is_rounded_up_to_the_resolution_or_left_out(model_dir):
    with serve(model_dir, timing_resolution_ms=7) as c:
        for text in ["나는 밥을 머", "this movie is rea", "오늘 "]:
            r = c.post("/complete", json={"text": text})
            took = r.json()["took_ms"]
            assert took >= 7 and took % 7 == 0, took
            assert f"model;dur={took:g};" in r.headers["server-timing"]
    with serve(model_dir, expose_timing=False) as c:
        r = c.post("/complete", json={"text": "나는 밥을 머"})
        assert r.json()["took_ms"] == 0
        assert r.headers["server-timing"] == 'model;desc="ngram"'


# --- other readings of what is typed (models/readings.py) -------------------------------
def matched(reply: dict) -> dict[str, str]:
    return {c["text"]: c["match"] for c in reply["completions"]}


def test_each_completion_says_how_it_matched(client):
    initials = post(client, "ㅅㄱ", k=5)
    check_contract(initials, 5, "ㅅㄱ")
    assert "initials" in matched(initials).values()
    assert all(hangul.initials(c["text"]).startswith("ㅅㄱ")
               for c in initials["completions"] if c["match"] == "initials")
    layout = post(client, "rkqkd", k=3)  # 가방, typed in English mode
    assert check_contract(layout, 3, "rkqkd")[0] == "가방"
    assert matched(layout)["가방"] == "layout"
    typo = post(client, "나는 밥을 먹엇다", k=3)  # Shift missed on ㅆ
    check_contract(typo, 3, "먹엇다")
    assert matched(typo).get("먹었다") == "typo"
    english = post(client, "I really liked the mo", k=3)
    assert set(matched(english).values()) == {"exact"} and "movie" in matched(english)
    assert matched(post(client, "ㅋㅋ", k=1)) == {"ㅋㅋㅋ": "exact"}  # consonants as typed


def test_a_text_typed_in_english_mode_is_answered_in_hangul(client):
    typed = "sksms qkqdmf ajrdjT"  # 나는 밥을 먹었 with the keyboard in English mode
    reply = post(client, typed, k=3)
    check_contract(reply, 3, "ajrdjT")
    first = reply["completions"][0]
    assert (first["text"], first["match"], first["context"]) == ("먹었다", "layout", "나는 밥을 ")
    r = client.get("/suggest", params={"q": typed, "k": 3})
    assert r.status_code == 200 and r.json()[1][0] == "나는 밥을 먹었다"
    r = client.get("/suggest", params={"q": typed, "k": 3, "layout": "false"})
    assert all(s.startswith("sksms qkqdmf ajrdjT") for s in r.json()[1])


@pytest.mark.parametrize("text, field", [("ㅅㄱ", "initials"), ("rkqkd", "layout"),
                                         ("나는 밥을 먹엇다", "typo")])
def test_each_reading_is_switched_off_by_a_request_field(client, text, field):
    on = post(client, text, k=5)
    off = post(client, text, k=5, **{field: False})
    assert field in matched(on).values()
    assert set(matched(off).values()) <= {"exact"}
    assert off == {**post(client, text, k=5, initials=False, layout=False, typo=False),
                   "took_ms": off["took_ms"]}
    got = client.get("/complete", params={"q": text, "k": 5, field: "false"}).json()
    assert got["completions"] == off["completions"]


def test_each_reading_is_switched_off_by_a_setting(model_dir):
    with serve(model_dir, read_initials=False, read_layout=False, read_typo=False) as c:
        for text in ["ㅅㄱ", "rkqkd", "나는 밥을 먹엇다", "sksms qkqdmf ajrdjT"]:
            reply = post(c, text, k=5)
            assert all(x["match"] == "exact" and x["context"] is None
                       for x in reply["completions"]), text
        assert "initials" in matched(post(c, "ㅅㄱ", k=5, initials=True)).values()  # asked for


@pytest.mark.parametrize("field", ["initials", "layout", "typo"])
def test_a_reading_switch_must_be_a_boolean(client, field):
    r = client.post("/complete", json={"text": "ㅅㄱ", field: "yes"})
    assert r.status_code == 422 and field in r.text
    r = client.get("/complete", params={"q": "ㅅㄱ", field: "maybe"})
    assert r.status_code == 422 and field in r.text


def test_readings_over_real_http(live_server):
    import httpx

    for text, word, how in [("ㅅㄱ", None, "initials"), ("rkqkd", "가방", "layout"),
                            ("나는 밥을 먹엇다", "먹었다", "typo")]:
        r = httpx.post(live_server.url + "/complete", json={"text": text, "k": 5}, timeout=30)
        assert r.status_code == 200, r.text
        got = matched(r.json())
        assert how in got.values() and (word is None or got[word] == how), (text, got)
    for run in ["ㅅㄱ" * 40, "ㄱ" * 95, "dkssud" * 16, "qwerty" * 16]:  # bounded work: answered
        r = httpx.post(live_server.url + "/complete", json={"text": "오늘 " + run, "k": 20,
                                                            "max_words": 3}, timeout=30)
        assert r.status_code == 200 and len(r.json()["completions"]) <= 20
