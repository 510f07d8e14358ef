"""Many typists at once: each gets the answer it would get alone, and a request that the
fallback answered stops holding up the model."""

from __future__ import annotations

import threading

import httpx

from tests.app.helpers import holding, run_server, serve, wait_for

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
        lstm = c.app.state.service.snapshot.neural.model.engine
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


def test_texts_being_scored_do_not_hold_up_keystrokes_and_are_bounded(rnn_model_dir,
                                                                       monkeypatch):
    """A whole text is scored on a thread of its own beside the keystrokes' rounds, and
    no more than ``max_scoring`` texts are scored or waiting at once: beyond, 503."""
    with serve(rnn_model_dir, max_scoring=2, deadline_ms=30000) as c:
        lstm = c.app.state.service.snapshot.neural.model.engine
        texts = ["오늘 너무 힘들어 ㅠㅠ", "정말재밌었다"]
        with holding(monkeypatch, lstm, "score", *[
                lambda t=t: c.post("/probability", json={"text": t}) for t in texts]) as replies:
            # one scoring, the other waiting for the thread
            wait_for(lambda: c.app.state.service._scoring == 2, "two texts in the scorer")
            for text in ("나는 밥을 머", "this movie is "):  # keystrokes go on meanwhile
                r = c.post("/complete", json={"text": text, "k": 3})
                assert r.status_code == 200 and r.json()["model"] == "lstm"
            r = c.post("/probability", json={"text": "세 번째 글"})
            assert r.status_code == 503 and r.headers["retry-after"]
            assert "busy" in r.json()["detail"] and "2 texts" in r.json()["detail"]
            r = c.post("/probability", json={"text": "나는 밥을", "next": "먹었다"})
            assert r.status_code == 200  # next words are a search: not capped by it
        assert [r.status_code for r in replies] == [200, 200]
        assert {r.json()["model"] for r in replies} == {"lstm"}
        wait_for(lambda: c.app.state.service._scoring == 0, "the scorer to be free")
        assert c.post("/probability", json={"text": "세 번째 글"}).status_code == 200
