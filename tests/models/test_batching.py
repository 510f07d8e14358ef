"""The step scheduler: searches of many requests served in batched model calls, with the
same answers as one at a time, and cancelled or late work dropped between rounds."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError

import numpy as np
import pytest

from models.batching import DeadlineExceeded, StepScheduler, run_alone, serve_one
from models.completion import CompletionEngine
from models.loading import load_model
from models.mixture import MixtureLM

TEXTS = ["나는 밥을 머", "영화 너무 재", "ㅋㅋ 진짜 웃", "오늘 ", "정말재미", "this movie is ",
         "I really liked the", "", "나는 밥을 먹었다 그리고 ", "sooo goo", "재ㅁ", "ㅋㅋ"]


def engines(rnn_model_dir) -> dict[str, CompletionEngine]:
    """Fresh engines (empty caches) over the tiny LSTM, the 4-gram and their mixture."""
    lstm = load_model(rnn_model_dir, "lstm").engine
    ngram = load_model(rnn_model_dir, "ngram").engine
    mixture = CompletionEngine(lstm.tok, MixtureLM(lstm.lm, ngram.lm, 0.6))
    return {"lstm": lstm, "ngram": ngram, "lstm+ngram": mixture}


def gate(scheduler: StepScheduler) -> threading.Event:
    """Hold the model thread until the returned event is set, so that the jobs submitted
    meanwhile all start in the same round."""
    held, release = threading.Event(), threading.Event()

    def wait() -> None:
        held.set()
        release.wait(30)

    scheduler.submit(wait)
    assert held.wait(30)
    return release


def needs(engine: CompletionEngine, text: str, max_words: int) -> int:
    """How many model needs the search of ``text`` has when it runs alone."""
    count, search = 0, engine.search_complete(text, 5, max_words)
    try:
        need = next(search)
        while True:
            count += 1
            need = search.send(serve_one(engine.lm, need))
    except StopIteration:
        return count


def same_answers(got, want) -> None:
    assert [c.text for c in got] == [c.text for c in want]
    np.testing.assert_allclose([c.log_prob for c in got], [c.log_prob for c in want],
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", ["lstm", "lstm+ngram", "ngram"])
def test_batched_answers_equal_answers_given_one_at_a_time(rnn_model_dir, family):
    alone = engines(rnn_model_dir)[family]
    want = {(t, m): alone.complete(t, k=5, max_words=m) for t in TEXTS for m in (1, 2)}
    engine = engines(rnn_model_dir)[family]
    scheduler = StepScheduler(engine.lm, family)
    try:
        release = gate(scheduler)
        futures = {key: scheduler.submit(engine.search_complete, key[0], 5, key[1])
                   for key in want}
        release.set()
        for key, future in futures.items():
            same_answers(future.result(60), want[key])  # each request gets its own
        # the searches shared rounds: one model call served several requests' beams, and
        # there were fewer rounds than the needs of the searches one by one
        assert scheduler.figures.largest_round > engine.beam_size
        alone_needs = sum(needs(engines(rnn_model_dir)[family], *key) for key in want)
        assert scheduler.figures.rounds < alone_needs / 4
    finally:
        scheduler.close()


def test_word_probabilities_and_plain_calls_share_the_scheduler(rnn_model_dir):
    alone = engines(rnn_model_dir)["lstm+ngram"]
    engine = engines(rnn_model_dir)["lstm+ngram"]
    pairs = [("철수와 영희는 식탁에 앉아", "사과를 먹었다"), ("this movie is", "really good"),
             ("", "ㅋㅋㅋ")]
    scheduler = StepScheduler(engine.lm)
    try:
        release = gate(scheduler)
        words = [scheduler.submit(engine.search_word_logprob, a, b) for a, b in pairs]
        scores = [scheduler.submit(engine.score, a) for a, _ in pairs]
        release.set()
        for (a, b), w, s in zip(pairs, words, scores, strict=True):
            assert w.result(60) == pytest.approx(alone.word_logprob(a, b), abs=1e-5)
            assert s.result(60).log_prob == pytest.approx(alone.score(a).log_prob, abs=1e-6)
        with pytest.raises(ValueError, match="at least one word"):
            scheduler.submit(engine.search_word_logprob, "오늘", "  ").result(60)
    finally:
        scheduler.close()


def endless(engine: CompletionEngine, served: list[int], closed: threading.Event):
    """A search that never ends: one model step after another, counting them."""
    state = engine.lm.start()
    try:
        while True:
            state = (yield ("advance", [state], [engine.tok.eos_id]))[0]
            served.append(1)
    finally:
        closed.set()


def test_a_cancelled_search_is_dropped_and_frees_the_model(rnn_model_dir):
    engine = engines(rnn_model_dir)["lstm"]
    scheduler = StepScheduler(engine.lm)
    served, closed = [], threading.Event()
    try:
        future = scheduler.submit(endless, engine, served, closed)
        while len(served) < 5:
            threading.Event().wait(0.001)
        future.cancel()
        assert closed.wait(30)  # closed between two rounds
        count = len(served)
        answer = scheduler.submit(engine.search_complete, "나는 밥을 머", 3, 1).result(60)
        assert answer and len(served) == count  # it ran no further
        assert scheduler.figures.dropped_cancelled == 1
        with pytest.raises(CancelledError):
            future.result(0)
    finally:
        scheduler.close()


def test_a_search_past_its_deadline_fails_and_is_dropped(rnn_model_dir):
    import time

    engine = engines(rnn_model_dir)["lstm"]
    scheduler = StepScheduler(engine.lm)
    served, closed = [], threading.Event()
    try:
        future = scheduler.submit(endless, engine, served, closed,
                                  deadline=time.monotonic() + 0.05)
        with pytest.raises(DeadlineExceeded):
            future.result(60)
        assert closed.is_set() and scheduler.figures.dropped_deadline == 1
        assert scheduler.submit(engine.search_complete, "this movie is ", 3, 1).result(60)
    finally:
        scheduler.close()


def test_a_need_that_fails_fails_its_own_request_only(rnn_model_dir):
    engine = engines(rnn_model_dir)["lstm"]
    alone = engines(rnn_model_dir)["lstm"]

    def broken():
        yield ("advance", [object()], [3])  # not a state of this model

    scheduler = StepScheduler(engine.lm)
    try:
        release = gate(scheduler)
        bad = scheduler.submit(broken)
        good = [scheduler.submit(engine.search_complete, t, 3, 1) for t in TEXTS[:4]]
        release.set()
        with pytest.raises(AttributeError):
            bad.result(60)
        for t, future in zip(TEXTS, good, strict=False):
            same_answers(future.result(60), alone.complete(t, k=3))
    finally:
        scheduler.close()


@pytest.mark.parametrize("family", ["lstm", "lstm+ngram"])
def test_searches_closed_at_any_step_leave_the_state_cache_consistent(rnn_model_dir, family):
    engine = engines(rnn_model_dir)[family]
    for text in ["나는 밥을 머", "영화 너무 재미있", "this movie is re"]:
        for steps in range(1, 14):
            search = engine.search_complete(text, 5, 2)
            try:
                need = next(search)
                for _ in range(steps):
                    need = search.send(serve_one(engine.lm, need))
            except StopIteration:
                pass
            search.close()  # what the scheduler does to a cancelled request
    assert len(engine._cache) > 20
    lm = engine.lm
    for ids, state in list(engine._cache.items()):
        fresh = lm.feed(lm.start(), ids)
        np.testing.assert_allclose(lm.logprobs([state]), lm.logprobs([fresh]), atol=1e-4)
    # and the engine answers as a fresh one does
    fresh_engine = engines(rnn_model_dir)[family]
    for text in ["나는 밥을 머", "this movie is re"]:
        same_answers(run_alone(lm, engine.search_complete(text, 5, 1)),
                     fresh_engine.complete(text, k=5))


def test_a_closed_scheduler_ends_its_thread(rnn_model_dir):
    engine = engines(rnn_model_dir)["ngram"]
    scheduler = StepScheduler(engine.lm, "ngram")
    assert scheduler.submit(engine.search_complete, "오늘 ", 3, 1).result(60)
    scheduler.close()
    scheduler._thread.join(30)
    assert not scheduler._thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        scheduler.submit(engine.search_complete, "오늘 ", 3, 1)
