"""The loaded models behind the HTTP layer: cold start, fallback, deadline, reload.

    start ─► n-gram loaded (blocking, well under a second on the default model)
          └► neural model loading in a background thread ─► swapped in when ready
    request ─► neural model (its scheduler, deadline) ─┬─► answer, "model": "lstm"
                                                       └─ raised / too late ─► n-gram answers
                                                            (its own deadline, else 503)

The neural model is what the directory's manifest says the service serves
(``models.families.served_family``): lstm, gru, rnn or window, interpolated with the n-gram
(``gru+ngram``) where that measured better.

Every loaded model runs in its own thread, a ``StepScheduler`` (``models/batching.py``):
the engine keeps caches and is not thread-safe, the event loop never runs model code, and
the searches of all waiting requests advance together, one batched model call a round.
A request that is answered by the fallback, or whose client stopped waiting, is dropped
between two rounds, so late work never holds up the requests behind it. What the service
serves is one immutable ``Snapshot``; a load or reload builds a new one and swaps the
reference, so a request keeps the models it started with until it is answered. An
old snapshot's scheduler threads end when the last request holding them lets go.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

from app.metrics import Metrics
from app.settings import Settings
from models.batching import StepScheduler
from models.families import NGRAM, served_family
from models.loading import LoadedModel, load_model
from models.memory import keep_freed_memory
from models.threads import limit_threads

log = logging.getLogger("app.service")
T = TypeVar("T")

_ABSOLUTE_DIRS = re.compile(r"(?<![\w.])(?:/[^/\s:'\"()]+)+/")


def public_message(text: str, *directories: Path | str) -> str:
    """An error message fit for a client: the model directory and any other
    folder cut away, file names (``lstm/model.safetensors``) kept."""
    for d in sorted({str(d) for d in directories if d}, key=len, reverse=True):
        text = text.replace(d + "/", "").replace(d, "model directory")
    return _ABSOLUTE_DIRS.sub("", text)


class Unavailable(RuntimeError):
    """No model can answer (none loaded yet, or the directory is unusable)."""


class Overloaded(RuntimeError):
    """The models are busy: no answer in time, or too many texts being scored (503)."""


class ReloadRefused(RuntimeError):
    """A reload found the directory unusable; the models that served keep serving."""


@dataclass(eq=False)
class Slot:
    """One loaded model and the single thread that runs every call to it."""

    model: LoadedModel
    scheduler: StepScheduler = field(init=False)
    scorer: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        self.scheduler = StepScheduler(self.model.engine.lm, self.model.family)
        # whole texts are scored beside the scheduler, not in its rounds: a long text
        # would hold up every keystroke behind it (scoring touches no cache: thread-safe)
        self.scorer = ThreadPoolExecutor(1, thread_name_prefix=f"score-{self.model.family}")
        # the threads end once no snapshot or request holds the slot any more
        weakref.finalize(self, self.scheduler.close)
        weakref.finalize(self, self.scorer.shutdown, False)

    @property
    def family(self) -> str:
        return self.model.family


@dataclass(frozen=True)
class Snapshot:
    """What serves now. ``state``: starting | loading (the n-gram serves while the
    neural model loads) | ready | degraded (a listed model failed: ``reason``) |
    unavailable (nothing serves: ``reason``)."""

    state: str = "starting"
    ngram: Slot | None = None
    neural: Slot | None = None  # the neural family, alone or interpolated (gru+ngram)
    pending: str | None = None  # neural family still loading
    reason: str | None = None
    manifest: dict[str, Any] | None = None
    version: str | None = None  # name of the published version directory
    loaded_at: float | None = None

    @property
    def serving(self) -> str | None:
        """The family that answers first."""
        first = self.neural or self.ngram
        return first.family if first else None

    @property
    def slots(self) -> list[Slot]:
        return [s for s in (self.neural, self.ngram) if s is not None]


@dataclass(frozen=True)
class Answer(Generic[T]):
    """A model's result, who gave it, the model time and why a fallback happened (if it did)."""

    value: T
    model: str
    seconds: float
    fallback: str | None = None


Work = Callable[..., T]


class ModelService:
    """Loads the configured model directory and answers calls on the best model that can."""

    def __init__(self, settings: Settings, metrics: Metrics):
        self.settings, self.metrics = settings, metrics
        self._snap = Snapshot()
        self._lock = threading.Lock()  # one load or reload at a time
        self._generation = 0  # bumped by every swap of directory; stale loaders give up
        self._scoring = 0  # texts being scored (or queued to be), in every slot
        self._scoring_lock = threading.Lock()
        metrics.watch(self.figures)

    @property
    def snapshot(self) -> Snapshot:
        return self._snap

    # --- loading -----------------------------------------------------------------
    def _load(self, directory: Path, family: str) -> LoadedModel:
        return load_model(directory, family, verify=self.settings.verify_hashes,
                          **self.settings.engine_options())

    def _reason(self, family: str, error: BaseException, *dirs: Path | str) -> str:
        configured = self.settings.model_dir
        message = public_message(str(error), configured.resolve(), configured.absolute(),
                                 configured, *dirs)
        return f"{family} model not loaded: {message}"

    def _wanted_neural(self, manifest: dict[str, Any]) -> str | None:
        """The neural family (alone or interpolated) to load beside the n-gram, if any."""
        family = served_family(manifest)
        return family if family != NGRAM and self.settings.prefer_neural else None

    def start(self, background: bool = True) -> None:
        """Load the n-gram now (blocking), then the neural model, if the directory
        lists one, in a background thread (or inline with ``background=False``)."""
        if self.settings.keep_freed_memory and not keep_freed_memory():
            log.info("malloc thresholds not set: the C library is not glibc")
        limit_threads(self.settings.torch_threads, torch_too=False)  # BLAS: before the n-gram
        with self._lock:
            try:
                ngram = self._load(self.settings.model_dir, NGRAM)
            except Exception as e:  # any failure leaves the service up, 503
                log.error("cannot load the n-gram model: %s", e)
                self._snap = Snapshot("unavailable", reason=self._reason("ngram", e))
                return
            family = self._wanted_neural(ngram.manifest)
            self._snap = Snapshot("loading" if family else "ready", Slot(ngram), pending=family,
                                  manifest=ngram.manifest, version=ngram.directory.name,
                                  loaded_at=time.time())
            log.info("serving ngram from %s (%.2f s)", ngram.directory, ngram.load_seconds)
            generation = self._generation
        if family is None:
            return
        args = (generation, ngram.directory, family)
        if background:
            threading.Thread(target=self._load_neural, args=args, name="load-neural",
                             daemon=True).start()
        else:
            self._load_neural(*args)

    def _load_neural(self, generation: int, directory: Path, family: str) -> None:
        try:
            limit_threads(self.settings.torch_threads)
            model = self._load(directory, family)  # the same version the n-gram came from
        except Exception as e:  # a broken neural model only degrades
            log.error("cannot load the %s model, the n-gram keeps serving: %s", family, e)
            with self._lock:
                if generation == self._generation:
                    self._snap = replace(self._snap, state="degraded", pending=None,
                                         reason=self._reason(family, e, directory))
            return
        with self._lock:
            if generation != self._generation:  # a reload swapped the directory meanwhile
                return
            self._snap = replace(self._snap, state="ready", neural=Slot(model), pending=None)
        log.info("serving %s (loaded in %.2f s)", family, model.load_seconds)

    def reload(self) -> Snapshot:
        """Load the configured directory again (it may point to a new version), verify
        every model it lists and swap them in at once. Raises ReloadRefused and keeps
        the old models if the n-gram fails, or if the neural model fails while the
        old one works (a service already without it takes the new n-gram, degraded)."""
        with self._lock:
            old = self._snap
            try:
                ngram = self._load(self.settings.model_dir, NGRAM)
            except Exception as e:
                self.metrics.reloads.labels("refused").inc()
                raise ReloadRefused(self._reason("ngram", e)) from e
            family = self._wanted_neural(ngram.manifest)
            neural, state, reason = None, "ready", None
            if family is not None:
                try:
                    limit_threads(self.settings.torch_threads)
                    neural = Slot(self._load(ngram.directory, family))
                except Exception as e:
                    reason = self._reason(family, e, ngram.directory)
                    if old.neural is not None:
                        self.metrics.reloads.labels("refused").inc()
                        raise ReloadRefused(reason) from e
                    state = "degraded"  # nothing lost: the old one lacked it too
            self._generation += 1
            self._snap = Snapshot(state, Slot(ngram), neural, reason=reason,
                                  manifest=ngram.manifest, version=ngram.directory.name,
                                  loaded_at=time.time())
            self.metrics.reloads.labels("ok").inc()
            log.info("reloaded %s: serving %s", ngram.directory, self._snap.serving)
            return self._snap

    # --- answering ---------------------------------------------------------------
    async def run(self, endpoint: str, work: Work[T], *args: Any,
                  scoring: bool = False) -> Answer[T]:
        """``work(engine, *args)`` on the neural model within the deadline, else on
        the n-gram (within a deadline of its own: past it, 503). ``work`` may return a
        search (a generator of model needs, ``models/batching.py``), which the model's
        scheduler batches with the other requests' searches. ``scoring`` work (a whole
        text's score) runs on the slot's scoring thread instead, at most ``max_scoring``
        texts at once in the service (beyond, 503). Never runs on the event loop."""
        snap = self._snap  # the models this request keeps until it is answered
        if snap.ngram is None and snap.neural is None:
            raise Unavailable(snap.reason or "the model is still loading")
        fallback = None
        within = self._scored_within if scoring else _within
        if snap.neural is not None:
            t0 = time.perf_counter()
            try:
                value = await within(snap.neural, self.settings.deadline_ms / 1000, work,
                                     *args)
                return self._answered(endpoint, value, snap.neural.family, t0)
            except TimeoutError:  # dropped by the scheduler before its next round
                fallback = "deadline"
            except Overloaded:
                raise
            except Exception:  # the n-gram answers instead; the log keeps why
                log.exception("%s failed in the %s model; the n-gram answers", endpoint,
                              snap.neural.family)
                fallback = "error"
            self.metrics.fallbacks.labels(endpoint, fallback).inc()
            if snap.ngram is None:
                raise Unavailable(f"the {snap.neural.family} model did not answer")
        assert snap.ngram is not None
        t0 = time.perf_counter()
        try:
            value = await within(snap.ngram, self.settings.ngram_deadline_ms / 1000, work,
                                 *args)
        except TimeoutError as e:
            raise Overloaded("no model answered in time") from e
        return self._answered(endpoint, value, NGRAM, t0, fallback)

    async def _scored_within(self, slot: Slot, seconds: float, work: Work[T], *args: Any) -> T:
        """``work(engine, *args)`` on the slot's scoring thread; TimeoutError after
        ``seconds`` (the work runs on, and counts against ``max_scoring``, until it ends)."""
        with self._scoring_lock:
            if self._scoring >= self.settings.max_scoring:
                raise Overloaded(f"{self._scoring} texts are being scored, the most at once")
            self._scoring += 1
        try:
            future = slot.scorer.submit(work, slot.model.engine, *args)
        except RuntimeError:  # shut down: a reload replaced the slot meanwhile
            self._scored_done(None)
            raise
        future.add_done_callback(self._scored_done)
        return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), seconds)

    def _scored_done(self, _future: Any) -> None:
        with self._scoring_lock:
            self._scoring -= 1

    def _answered(self, endpoint: str, value: T, model: str, t0: float,
                  fallback: str | None = None) -> Answer[T]:
        seconds = time.perf_counter() - t0
        self.metrics.model_requests.labels(endpoint, model).inc()
        self.metrics.model_latency.labels(endpoint, model).observe(seconds)
        return Answer(value, model, seconds, fallback)

    def figures(self) -> dict[str, Any]:
        """The loaded models' figures for /metrics."""
        snap = self._snap
        models = {s.family: {"load_seconds": s.model.load_seconds,
                             "cache_hits": s.model.engine.cache_hits,
                             "cache_misses": s.model.engine.cache_misses,
                             **asdict(s.scheduler.figures)} for s in snap.slots}
        return {"models": models, "serving": snap.serving,
                "degraded": snap.state in ("degraded", "unavailable")}

    def close(self) -> None:
        """Stop the model threads once their queued calls are done."""
        for slot in self._snap.slots:
            slot.scheduler.close()
            slot.scorer.shutdown(wait=False)


async def _within(slot: Slot, seconds: float, work: Work[T], *args: Any) -> T:
    """``work(engine, *args)`` on the slot's scheduler; TimeoutError after ``seconds``, and
    then the scheduler drops the job (the future is cancelled, or its deadline passes)."""
    future = slot.scheduler.submit(work, slot.model.engine, *args,
                                   deadline=time.monotonic() + seconds)
    try:  # DeadlineExceeded, from the scheduler, is a TimeoutError too
        return await asyncio.wait_for(asyncio.wrap_future(future), seconds)
    finally:
        future.cancel()  # no-op once answered; else the next round drops it
