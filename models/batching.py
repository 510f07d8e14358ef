"""Many requests, one model: the step scheduler that batches model calls across requests.

    request ─► Job (a search that yields what it needs of the model) ─► queue
    model thread:  while jobs are live:
        take every queued job (a lone one starts at once: no batch delay)
        drop the jobs that were cancelled or are past their deadline
        one round: every live job's pending need, grouped by kind
            logprobs of all their states ─► one ``lm.logprobs`` call
            advance of all their states  ─► one ``lm.advance`` call
            feed / call                  ─► one at a time
        each job resumes with its own rows, runs to its next need or its answer

A beam search step of one request asks the model for a dozen states; thirty-two
typists at once ask for four hundred, and a recurrent model's step over four
hundred states costs little more than over a dozen on a CPU (one matrix product
instead of many). Batching is continuous, as in Orca (Yu et al., OSDI 2022) and
vLLM: requests in different phases of their search share a round, a request that
arrives while a round runs joins the next one, and none waits for company.

Everything that touches the model or its caches runs in the one model thread, so
the engine needs no locks; a cancelled job is closed between two rounds, never in
the middle of one, so the caches only ever hold finished states.

A *need* is a tuple, the first item its kind:

    ("rows", states)          -> Rows: their distributions, read in parts (models/lm.py)
    ("logprobs", states)      -> np.ndarray (len(states), vocab)
    ("advance", states, ids)  -> list of states
    ("feed", states, runs)    -> list of states, each fed its run of ids (a new context)
    ("call", fn, *args)       -> fn(*args), run alone (a feed over many tokens, a text score)
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.lm import LanguageModel

log = logging.getLogger("models.batching")

Need = tuple
BATCHED = ("advance", "feed", "rows", "logprobs")  # needs of these kinds share one call a round
Search = Generator[Need, Any, Any]


class DeadlineExceeded(TimeoutError):
    """The job was still running when its deadline passed; its work was dropped."""


def run_alone(lm: LanguageModel, search: Search) -> Any:
    """Drive one search to its answer, every need served at once (no scheduler)."""
    try:
        need = next(search)
        while True:
            need = search.send(serve_one(lm, need))
    except StopIteration as stop:
        return stop.value


def serve_one(lm: LanguageModel, need: Need) -> Any:
    """What ``need`` asks of ``lm``."""
    kind = need[0]
    if kind == "rows":
        return lm.rows(need[1])
    if kind == "logprobs":
        return lm.logprobs(need[1])
    if kind == "advance":
        return lm.advance(need[1], need[2])
    if kind == "feed":
        return lm.feed_batch(need[1], need[2])
    if kind == "call":
        return need[1](*need[2:])
    raise ValueError(f"unknown need {kind!r}")


@dataclass(eq=False)
class Job:
    """One request's search, the future its answer goes to, and its deadline."""

    make: Callable[..., Any]
    args: tuple
    future: Future
    deadline: float  # time.monotonic(); inf: none
    search: Search | None = None
    need: Need | None = None
    rounds: int = field(default=0)


@dataclass
class SchedulerFigures:
    """Counters for /metrics and the benchmarks."""

    rounds: int = 0
    jobs: int = 0
    batched_states: int = 0  # states served in batched calls, summed over rounds
    dropped_cancelled: int = 0
    dropped_deadline: int = 0
    largest_round: int = 0


class StepScheduler:
    """The one thread that runs a model: jobs are searches (generators of needs), served
    in rounds that batch every live job's need of the same kind into one model call."""

    def __init__(self, lm: LanguageModel, name: str = "model", max_batch_states: int = 1024):
        self.lm = lm
        self.max_batch_states = max_batch_states
        self.figures = SchedulerFigures()
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=f"model-{name}", daemon=True)
        self._thread.start()

    # --- the caller's side ----------------------------------------------------------
    def submit(self, make: Callable[..., Search | Any], *args: Any,
               deadline: float = float("inf")) -> Future:
        """Run ``make(*args)`` in the model thread; if it returns a generator (a search),
        serve its needs in rounds until it returns. The future holds the answer; cancelling it (or
        the monotonic ``deadline`` passing) drops the work between two rounds."""
        if self._closed:
            raise RuntimeError("the scheduler is closed")
        future: Future = Future()
        self._queue.put(Job(make, args, future, deadline))
        return future

    def close(self) -> None:
        """Stop the thread once the jobs it holds are done."""
        self._closed = True
        self._queue.put(None)

    # --- the model thread -----------------------------------------------------------
    def _loop(self) -> None:
        live: list[Job] = []
        closing = False
        while True:
            if not live:
                if closing:
                    return
                job = self._queue.get()  # idle: wait for work
                if job is None:
                    return
                live.append(job)
            while True:  # everything that arrived meanwhile joins this round
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    closing = True
                else:
                    live.append(job)
            live = self._round(live)

    def _round(self, live: list[Job]) -> list[Job]:
        now = time.monotonic()
        ready: list[Job] = []
        for job in live:
            if job.future.cancelled():
                self.figures.dropped_cancelled += 1
                _close(job)
            elif now > job.deadline:
                self.figures.dropped_deadline += 1
                _close(job)
                _settle(job.future, error=DeadlineExceeded("past its deadline"))
            elif job.search is None:
                self.figures.jobs += 1
                self._start(job)
                if job.need is not None:
                    ready.append(job)
            else:
                ready.append(job)
        if not ready:
            return []
        self.figures.rounds += 1
        results = self._serve(ready)
        still = []
        for job, result in zip(ready, results, strict=True):
            if isinstance(result, _Failure):
                _close(job)
                _settle(job.future, error=result.error)
                continue
            self._resume(job, result)
            if job.need is not None:
                still.append(job)
        return still

    def _start(self, job: Job) -> None:
        """Call the job's function: a search (a generator) goes to its first need; any
        other value is the answer."""
        try:
            made = job.make(*job.args)
        except Exception as e:  # the request fails, the thread goes on
            _settle(job.future, error=e)
            return
        if not isinstance(made, Generator):
            _settle(job.future, result=made)
            return
        job.search = made
        self._resume(job, None, first=True)

    def _resume(self, job: Job, value: Any, first: bool = False) -> None:
        """Send ``value`` into the job's search; record its next need, or settle its future."""
        assert job.search is not None
        try:
            job.need = next(job.search) if first else job.search.send(value)
            job.rounds += 1
        except StopIteration as stop:
            job.need = None
            _settle(job.future, result=stop.value)
        except Exception as e:  # the request fails, the thread goes on
            job.need = None
            _settle(job.future, error=e)

    def _serve(self, jobs: list[Job]) -> list[Any]:
        """Every job's need served: those of a batched kind in one model call a kind."""
        results: list[Any] = [None] * len(jobs)
        for kind in BATCHED:
            group = [j for j, job in enumerate(jobs) if job.need[0] == kind]
            # a round larger than max_batch_states is cut into several calls
            start = 0
            while start < len(group):
                end, size = start, 0
                while end < len(group) and (end == start or
                                            size + len(jobs[group[end]].need[1])
                                            <= self.max_batch_states):
                    size += len(jobs[group[end]].need[1])
                    end += 1
                part = group[start:end]
                self._serve_batch(kind, [jobs[j] for j in part], results, part)
                start = end
        for j, job in enumerate(jobs):
            if job.need[0] not in BATCHED:
                try:
                    results[j] = serve_one(self.lm, job.need)
                except Exception as e:
                    results[j] = _Failure(e)
        return results

    def _serve_batch(self, kind: str, jobs: list[Job], results: list[Any],
                     where: list[int]) -> None:
        states = [s for job in jobs for s in job.need[1]]
        self.figures.batched_states += len(states)
        self.figures.largest_round = max(self.figures.largest_round, len(states))
        try:
            if kind in ("advance", "feed"):
                ids = [i for job in jobs for i in job.need[2]]  # an id or a run a state
                step = self.lm.advance if kind == "advance" else self.lm.feed_batch
                out: Any = step(states, ids) if states else []
            elif kind == "rows":
                out = self.lm.rows(states)
            else:
                out = self.lm.logprobs(states) if states else np.empty((0, self.lm.vocab_size))
        except Exception as e:  # a batch that fails fails its jobs only
            if len(jobs) == 1:
                results[where[0]] = _Failure(e)
                return
            log.warning("a batched %s call failed (%s): its %d jobs are served one by one",
                        kind, e, len(jobs))
            for j, job in zip(where, jobs, strict=True):  # only the culprit fails
                self._serve_batch(kind, [job], results, [j])
            return
        at = 0
        for j, job in zip(where, jobs, strict=True):
            n = len(job.need[1])
            results[j] = out[at:at + n]
            at += n


@dataclass
class _Failure:
    error: BaseException


def _close(job: Job) -> None:
    if job.search is not None:
        job.search.close()
    job.need = None


def _settle(future: Future, result: Any = None, error: BaseException | None = None) -> None:
    """Give the future its answer unless it was cancelled meanwhile (from another thread)."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass
