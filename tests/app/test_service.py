"""The models behind the service: the recurrent model takes over from the n-gram once
loaded; broken weights leave the n-gram serving and /ready says why; a recurrent model that
raises or misses the deadline is answered for by the n-gram, and the answer says so."""

from __future__ import annotations

import threading

import pytest

from tests.app.helpers import copy_version, corrupt, family_file, serve, wait_for

PATIENT = {"deadline_ms": 60_000}  # the deadline is not under test: never fall back


def completions(client, text: str, **kw) -> dict:
    r = client.post("/complete", json={"text": text, **kw})
    assert r.status_code == 200, r.text
    return r.json()


def test_the_recurrent_model_takes_over_once_loaded(rnn_model_dir):
    with serve(rnn_model_dir, wait_neural=False, **PATIENT) as c:
        first = c.get("/ready")  # the n-gram answers from the start
        assert first.status_code == 200 and first.json()["model"] in ("ngram", "lstm")
        service = c.app.state.service
        wait_for(lambda: service.snapshot.pending is None, "the lstm model")
        body = c.get("/ready").json()
        assert body == {**body, "status": "ready", "model": "lstm", "reason": None,
                        "models": ["lstm", "ngram"], "loading": None}
        reply = completions(c, "나는 밥을 머", k=3)
        assert reply["model"] == "lstm" and reply["prefix"] == "머"
        assert 0 < len(reply["completions"]) <= 3
        assert all(x["log_prob"] <= 0 for x in reply["completions"])
        assert completions(c, "I really liked the ")["model"] == "lstm"
        r = c.post("/probability", json={"text": "오늘 너무 힘들어"})
        assert r.json()["model"] == "lstm" and r.json()["log_prob"] < 0
        r = c.post("/probability", json={"text": "나는 밥을", "next": "먹었다"})
        assert r.json()["model"] == "lstm"
        assert c.get("/model").json()["serving"] == "lstm"
        m = c.get("/metrics").text
        assert 'autocomplete_model_answers_total{endpoint="/complete",model="lstm"} 2.0' in m
        assert 'autocomplete_model_load_seconds{model="lstm"}' in m


@pytest.mark.parametrize("damage", ["missing", "wrong hash", "truncated",
                                    "truncated, unverified"])
def test_broken_recurrent_weights_leave_the_ngram_serving(rnn_model_dir, tmp_path, damage):
    broken = copy_version(rnn_model_dir, tmp_path / "v1")
    weights = family_file(broken, "lstm", ".safetensors")
    if damage == "missing":
        weights.unlink()
    elif damage.startswith("truncated"):
        weights.write_bytes(weights.read_bytes()[:weights.stat().st_size // 2])
    else:
        corrupt(weights)
    verify = damage != "truncated, unverified"
    with serve(broken, verify_hashes=verify) as c:
        r = c.get("/ready")
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "degraded" and body["model"] == "ngram"
        assert body["models"] == ["ngram"]
        expected = {"missing": "missing", "truncated, unverified": "cannot load"}.get(
            damage, "sha256 mismatch")
        named = weights.name if verify else weights.parent.name  # safetensors names no file
        assert body["reason"].startswith("lstm model not loaded")
        assert expected in body["reason"] and named in body["reason"]
        assert str(tmp_path) not in body["reason"]
        reply = completions(c, "나는 밥을 머", k=3)
        assert reply["model"] == "ngram" and "먹었다" in [x["text"] for x in reply["completions"]]
        assert "autocomplete_degraded 1.0" in c.get("/metrics").text


def test_a_recurrent_model_that_raises_is_answered_by_the_ngram(rnn_model_dir, monkeypatch,
                                                                 caplog):
    with serve(rnn_model_dir, **PATIENT) as c:
        lstm = c.app.state.service.snapshot.neural.model.engine

        def broken(*args, **kw):
            raise RuntimeError("CUDA out of memory, say")

        monkeypatch.setattr(lstm, "search_complete", broken)
        monkeypatch.setattr(lstm, "score", broken)
        r = c.post("/complete", json={"text": "나는 밥을 머", "k": 3})
        assert r.status_code == 200 and r.json()["model"] == "ngram"
        assert "먹었다" in [x["text"] for x in r.json()["completions"]]
        assert 'fallback;desc="error"' in r.headers["server-timing"]
        assert "CUDA" not in r.text and "CUDA" in caplog.text
        r = c.post("/probability", json={"text": "오늘 너무 힘들어 ㅠㅠ"})
        assert r.status_code == 200 and r.json()["model"] == "ngram"
        r = c.post("/probability", json={"text": "I really liked the", "next": "movie"})
        assert r.json()["model"] == "lstm"  # word_logprob still works in the lstm
        m = c.get("/metrics").text
        assert 'autocomplete_fallbacks_total{endpoint="/complete",reason="error"} 1.0' in m
        assert 'autocomplete_fallbacks_total{endpoint="/probability",reason="error"} 1.0' in m


def test_a_recurrent_model_past_the_deadline_is_answered_by_the_ngram(rnn_model_dir,
                                                                      monkeypatch):
    with serve(rnn_model_dir, deadline_ms=50) as c:
        lstm = c.app.state.service.snapshot.neural.model.engine
        release = threading.Event()
        real = lstm.search_complete

        def slow(*args, **kw):
            release.wait(30)  # until the test lets go: surely past 50 ms
            return real(*args, **kw)

        monkeypatch.setattr(lstm, "search_complete", slow)
        try:
            for text in ("영화 너무 재", "this movie is "):  # the second queues behind the first
                r = c.post("/complete", json={"text": text, "k": 3})
                assert r.status_code == 200 and r.json()["model"] == "ngram"
                assert r.json()["completions"]
                assert 'fallback;desc="deadline"' in r.headers["server-timing"]
            r = c.get("/complete", params={"q": "ㅋㅋ 진짜 웃", "k": 3})
            assert r.json()["model"] == "ngram" and r.headers["cache-control"] == "no-store"
        finally:
            release.set()
        m = c.get("/metrics").text
        assert 'autocomplete_fallbacks_total{endpoint="/complete",reason="deadline"} 3.0' in m


def test_prefer_neural_off_serves_the_ngram(rnn_model_dir):
    with serve(rnn_model_dir, prefer_neural=False) as c:
        assert c.get("/ready").json()["model"] == "ngram"
        assert completions(c, "오늘 ")["model"] == "ngram"
