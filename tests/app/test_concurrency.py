"""Many typists at once: each gets the answer it would get alone, and a request that the
fallback answered stops holding up the model."""

from __future__ import annotations

import threading

import httpx

from tests.app.conftest import run_server, serve, wait_for

TEXTS = ["나는 밥을 머", "영화 너무 재", "ㅋㅋ 진짜 웃", "오늘 ", "정말재미", "this movie is ",
         "I really liked the", "나는 밥을 먹었다 그리고 ", "재ㅁ", "ㅋㅋ", "so goo",
         "철수와 영희는 "]


def ask(url: str, text: str) -> dict:
    r = httpx.post(url + "/complete", json={"text": text, "k": 5, "max_words": 2}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def same(got: dict, want: dict) -> bool:
    """The same words in the same order, with the same log-probabilities (batched matrix
    products may round differently in the last bits)."""
    a, b = got["completions"], want["completions"]
    return [c["text"] for c in a] == [c["text"] for c in b] and all(
        abs(x["log_prob"] - y["log_prob"]) < 1e-4 for x, y in zip(a, b, strict=True))


def test_concurrent_typists_each_get_the_answer_they_get_alone(rnn_model_dir, tmp_path):
    with run_server(rnn_model_dir, tmp_path / "uvicorn.log",
                    AUTOCOMPLETE_DEADLINE_MS="60000") as server:
        wait_for(lambda: httpx.get(server.url + "/ready").json().get("model") == "lstm",
                 "the LSTM to load")
        alone = {t: ask(server.url, t) for t in TEXTS}
        assert {r["model"] for r in alone.values()} == {"lstm"}
        start = threading.Barrier(len(TEXTS) * 2)
        got: dict[tuple[str, int], dict] = {}

        def typist(text: str, copy: int) -> None:
            start.wait(30)
            got[(text, copy)] = ask(server.url, text)

        threads = [threading.Thread(target=typist, args=(t, c)) for t in TEXTS for c in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(got) == len(threads)
        for (text, _), reply in got.items():
            assert reply["model"] == "lstm" and reply["prefix"] == alone[text]["prefix"]
            assert same(reply, alone[text]), (text, reply, alone[text])


def test_a_request_answered_by_the_fallback_frees_the_model(rnn_model_dir, monkeypatch):
    """The recurrent work of a request that missed its deadline stops at the next round,
    so the next request is answered by the recurrent model, not queued behind it."""
    with serve(rnn_model_dir, deadline_ms=1000) as c:
        lstm = c.app.state.service.snapshot.recurrent.model.engine
        real = lstm.search_complete
        steps: list[int] = []
        closed = threading.Event()

        def slow(text, *args, **kw):
            if text != "끝없는 ":
                return real(text, *args, **kw)

            def forever():  # 0.1 s a model step, for ten minutes unless dropped
                try:
                    for _ in range(6000):
                        yield ("call", threading.Event().wait, 0.1)
                        steps.append(1)
                finally:
                    closed.set()
            return forever()

        monkeypatch.setattr(lstm, "search_complete", slow)
        r = c.post("/complete", json={"text": "끝없는 ", "k": 3})
        assert r.status_code == 200 and r.json()["model"] == "ngram"
        assert 'fallback;desc="deadline"' in r.headers["server-timing"]
        assert closed.wait(30)  # dropped, not run to its end
        assert len(steps) < 100
        for text in ("나는 밥을 머", "this movie is "):
            r = c.post("/complete", json={"text": text, "k": 3})
            assert r.status_code == 200 and r.json()["model"] == "lstm", r.headers
        metrics = c.get("/metrics").text
        dropped = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                      if line.startswith('autocomplete_batch_dropped_total{model="lstm"'))
        assert dropped == 1  # cancelled by the service, or past its deadline: either drops it
        rounds = next(line for line in metrics.splitlines()
                      if line.startswith('autocomplete_batch_rounds_total{model="lstm"}'))
        assert float(rounds.rsplit(" ", 1)[1]) > 0
