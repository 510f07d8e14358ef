"""Limits before any model runs: 413 for big bodies, 503 + Retry-After beyond
max_concurrency (never an unbounded queue); CORS headers when origins are set."""

from __future__ import annotations

import json

from tests.app.helpers import holding, serve


def test_a_body_over_the_limit_is_413_before_parsing(model_dir):
    with serve(model_dir, max_body_bytes=1024) as c:
        text = "영화 너무 재밌었어요 ㅋㅋ " * 100  # declared by Content-Length
        r = c.post("/complete", json={"text": text})
        assert r.status_code == 413 and "1024" in r.json()["detail"]
        garbage = b"{" * 5000  # not even JSON: refused for its size, not parsed
        r = c.post("/complete", content=garbage, headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert c.post("/complete", json={"text": "영화 너무 재"}).status_code == 200
        m = c.get("/metrics").text
        assert 'autocomplete_rejected_requests_total{reason="body_too_large"} 2.0' in m


def test_a_chunked_body_over_the_limit_is_413(model_dir):
    def chunks():
        body = json.dumps({"text": "this movie is " * 200}).encode()
        for i in range(0, len(body), 256):
            yield body[i:i + 256]

    with serve(model_dir, max_body_bytes=1024) as c:
        r = c.post("/complete", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413


def test_beyond_max_concurrency_is_503_at_once_with_retry_after(model_dir, monkeypatch):
    with serve(model_dir, max_concurrency=1, retry_after_s=2) as c:
        engine = c.app.state.service.snapshot.ngram.model.engine
        with holding(monkeypatch, engine, "search_complete",
                     lambda: c.post("/complete", json={"text": "나는 밥을 머"})) as first:
            r = c.post("/complete", json={"text": "오늘 너무 "})
            assert r.status_code == 503 and r.headers["retry-after"] == "2"
            r = c.post("/probability", json={"text": "오늘 너무 힘들어"})
            assert r.status_code == 503
            assert c.get("/health").status_code == 200  # operations are never refused
            assert c.get("/metrics").status_code == 200
        assert first[0].status_code == 200
        assert "먹었다" in [x["text"] for x in first[0].json()["completions"]]
        assert c.post("/complete", json={"text": "오늘 너무 "}).status_code == 200
        assert 'autocomplete_rejected_requests_total{reason="overloaded"} 2.0' in \
            c.get("/metrics").text


def test_cors_headers_for_the_configured_origin_only(model_dir):
    origin = "https://search.example"
    with serve(model_dir, cors_origins=origin + ",https://other.example") as c:
        r = c.post("/complete", json={"text": "영화 "}, headers={"Origin": origin})
        assert r.headers["access-control-allow-origin"] == origin
        assert "Server-Timing" in r.headers["access-control-expose-headers"]
        pre = c.options("/complete", headers={"Origin": origin,
                                              "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "content-type"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == origin
        r = c.post("/complete", json={"text": "영화 "}, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_no_cors_headers_by_default(client):
    r = client.post("/complete", json={"text": "영화 "}, headers={"Origin": "https://a.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
