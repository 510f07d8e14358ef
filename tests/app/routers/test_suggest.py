"""GET /suggest (OpenSearch suggestions) and /opensearch.xml: Korean (half-typed, without
spaces) and English, the answer GET /complete gives in the array a search box reads, the
same limits and fallback, refusals with a message, and a browser's way in through the
description document over real HTTP."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from urllib.parse import quote

import httpx
import pytest

from app.routers import complete
from models import hangul
from tests.app.helpers import holding, serve

SUGGESTIONS = "application/x-suggestions+json"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"


def suggest(client, q: str, **params) -> list[str]:
    """The suggestions for ``q``, after checking the OpenSearch shape."""
    r = client.get("/suggest", params={"q": q, **params})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == SUGGESTIONS
    query, suggestions = r.json()
    assert query == q and isinstance(suggestions, list)
    assert all(isinstance(s, str) for s in suggestions)
    assert len(suggestions) == len(set(suggestions))
    return suggestions


def test_a_half_typed_korean_syllable_is_completed_in_the_whole_query(client):
    suggestions = suggest(client, "나는 밥을 머")
    assert "나는 밥을 먹었다" in suggestions
    for s in suggestions:  # the box's text with the word being typed replaced
        assert s.startswith("나는 밥을 ") and " " not in s[len("나는 밥을 "):]
        assert hangul.can_become("머", s[len("나는 밥을 "):])


def test_korean_typed_without_spaces_is_completed_as_one_run(client):
    suggestions = suggest(client, "나는밥을머")
    assert suggestions and all(" " not in s and hangul.can_become("나는밥을머", s)
                               for s in suggestions)
    assert any(s.startswith("나는밥을먹") for s in suggestions)  # 머 became 먹


def test_english_prefix_and_next_word(client):
    assert "I really liked the movie" in suggest(client, "I really liked the mo", k=3)
    after_space = suggest(client, "I really liked the ", k=5)
    assert "I really liked the movie" in after_space
    assert all(s.startswith("I really liked the ") and len(s.split()) == 5 for s in after_space)
    phrases = suggest(client, "I really liked the ", k=5, max_words=2)
    assert any(len(s.split()) == 6 for s in phrases)


@pytest.mark.parametrize("q", ["나는 밥을 머", "ㅋㅋ 진짜 웃", "this movie is rea", "오늘 너무 "])
def test_the_suggestions_are_get_completes_answer(client, q):
    """The same service and engine as GET /complete, each completion applied to the query."""
    done = client.get("/complete", params={"q": q, "k": 4}).json()
    context = q[:len(q) - len(done["prefix"])]
    r = client.get("/suggest", params={"q": q, "k": 4})
    assert r.json() == [q, [context + c["text"] for c in done["completions"]]]
    assert r.headers["cache-control"].startswith("public, max-age=")
    assert r.headers["server-timing"].startswith("model;dur=")


@pytest.mark.parametrize("params, where, says", [
    ({"q": ""}, "q", "at least 1 character"),
    ({"q": "   "}, "q", "nothing but spaces"),
    ({"q": "\u3000\t"}, "q", "nothing but spaces"),  # an ideographic space is a space too
    ({}, "q", "Field required"),
    ({"q": "밥머", "k": "0"}, "k", "greater than or equal to 1"),
    ({"q": "밥머", "k": "abc"}, "k", "valid integer"),
])
def test_bad_input_is_refused_with_a_message(client, params, where, says):
    r = client.get("/suggest", params=params)
    assert r.status_code == 422 and r.headers["content-type"] == "application/json"
    message = r.json()["message"]
    assert message.startswith(f"{where}: ") and says in message, message


def test_the_limits_are_the_settings(model_dir):
    with serve(model_dir, max_text_chars=30, k_max=4) as c:
        assert suggest(c, "영화 너무 " * 5)  # 30 characters: at the limit
        r = c.get("/suggest", params={"q": "영화 너무 " * 5 + "재"})
        assert r.status_code == 422
        assert r.json()["message"] == "q: String should have at most 30 characters"
        assert len(suggest(c, "this movie is ", k=4)) == 4
        r = c.get("/suggest", params={"q": "this movie is ", "k": 5})
        assert r.status_code == 422 and "less than or equal to 4" in r.json()["message"]
        spec = c.get("/openapi.json").json()["paths"]["/suggest"]["get"]
        q = next(p["schema"] for p in spec["parameters"] if p["name"] == "q")
        assert q["maxLength"] == 30 and q["minLength"] == 1 and q["pattern"]
        assert SUGGESTIONS in spec["responses"]["200"]["content"]
        assert list(spec["responses"]["422"]["content"]) == ["application/json"]


def test_beyond_max_concurrency_suggest_is_503_like_complete(model_dir, monkeypatch):
    with serve(model_dir, max_concurrency=1, retry_after_s=3) as c:
        # complete._complete: the work GET /complete and /suggest give the model
        with holding(monkeypatch, complete, "_complete",
                     lambda: c.get("/suggest", params={"q": "나는 밥을 머"})) as first:
            r = c.get("/suggest", params={"q": "오늘 너무 "})
            assert r.status_code == 503 and r.headers["retry-after"] == "3"
            assert "in flight" in r.json()["detail"]
            assert c.get("/complete", params={"q": "오늘 "}).status_code == 503  # one budget
        assert "나는 밥을 먹었다" in first[0].json()[1]


def test_a_failing_recurrent_model_leaves_the_suggestions_to_the_ngram(rnn_model_dir,
                                                                       monkeypatch):
    with serve(rnn_model_dir) as c:
        assert c.get("/ready").json()["model"] == "lstm"
        lstm = c.app.state.service.snapshot.neural.model.engine
        real = complete._complete

        def broken(engine, *args):
            if engine is lstm:
                raise RuntimeError("injected fault")
            return real(engine, *args)

        monkeypatch.setattr(complete, "_complete", broken)
        r = c.get("/suggest", params={"q": "영화 너무 재", "k": 3})
        assert r.status_code == 200 and r.json()[0] == "영화 너무 재"
        assert r.json()[1] and all(s.startswith("영화 너무 재") for s in r.json()[1])
        assert 'desc="ngram"' in r.headers["server-timing"]
        assert "fallback" in r.headers["server-timing"]
        assert r.headers["cache-control"] == "no-store"  # a fallback's answer is not kept


def templates(document: str) -> dict[str, str]:
    root = ET.fromstring(document)
    assert root.tag == f"{OPENSEARCH}OpenSearchDescription"
    assert root.findtext(f"{OPENSEARCH}ShortName")
    assert root.findtext(f"{OPENSEARCH}InputEncoding") == "UTF-8"
    return {u.get("type"): u.get("template") for u in root.iter(f"{OPENSEARCH}Url")}


def test_the_description_points_at_the_server_the_request_reached(client):
    r = client.get("/opensearch.xml")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/opensearchdescription+xml"
    urls = templates(r.text)
    assert urls[SUGGESTIONS] == "http://testserver/suggest?q={searchTerms}"
    assert urls["text/html"] == "http://testserver/?q={searchTerms}"
    # the host the client named, kept as text in a well-formed document (& is escaped)
    for host in ("example.org:8080", "a&b"):
        other = client.get("/opensearch.xml", headers={"host": host})
        assert templates(other.text)[SUGGESTIONS] == f"http://{host}/suggest?q={{searchTerms}}"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "link":
            self.links.append(dict(attrs))


def test_a_browser_finds_the_suggestions_from_the_demo_page(live_server):
    """As a browser does: the demo page's <link rel="search">, the description it names,
    then the suggestions URL filled with what was typed, all over real HTTP."""
    page = httpx.get(live_server.url + "/", timeout=10)
    parser = _Links()
    parser.feed(page.text)
    search = [link for link in parser.links if link.get("rel") == "search"]
    assert len(search) == 1
    assert search[0]["type"] == "application/opensearchdescription+xml"
    description = httpx.get(httpx.URL(live_server.url).join(search[0]["href"]), timeout=10)
    template = templates(description.text)[SUGGESTIONS]
    assert template.startswith(live_server.url + "/suggest?")
    for typed, wanted in [("나는 밥을 머", "나는 밥을 먹었다"),
                          ("I really liked the mo", "I really liked the movie")]:
        r = httpx.get(template.replace("{searchTerms}", quote(typed)), timeout=10)
        assert r.status_code == 200 and r.headers["content-type"] == SUGGESTIONS
        assert r.json()[0] == typed and wanted in r.json()[1]
