"""Start and stop: load the models when the app starts, reload them on SIGHUP (one reload
at a time), and keep what people type out of the access log."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.service import ModelService, ReloadRefused, Snapshot

log = logging.getLogger("app.lifecycle")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The n-gram is loaded before the first request is accepted; the neural model
    follows in a background thread."""
    service: ModelService = app.state.service
    _log_like_uvicorn()
    if not app.state.settings.log_query_strings:
        logging.getLogger("uvicorn.access").addFilter(QUERY_STRINGS_OUT)
    await asyncio.to_thread(service.start)
    stop_watching = watch_sighup(reloader(app))
    try:
        yield
    finally:
        stop_watching()
        logging.getLogger("uvicorn.access").removeFilter(QUERY_STRINGS_OUT)
        service.close()


def _log_like_uvicorn() -> None:
    """Send the app's log (model loads, fallbacks, reloads) where uvicorn sends its own,
    unless logging was set up otherwise."""
    ours, theirs = logging.getLogger("app"), logging.getLogger("uvicorn.error")
    if ours.handlers or logging.getLogger().handlers or not theirs.handlers:
        return
    for handler in theirs.handlers:
        ours.addHandler(handler)
    ours.setLevel(logging.INFO)


class QueryStringsOut(logging.Filter):
    """Takes the query string off the path of uvicorn's access log lines: ``GET /complete?q=``
    carries what a person typed, which a log keeps far longer than anyone meant."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn's access record: (client, method, path with query, http version, status)
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) \
                and "?" in args[2]:
            record.args = (args[0], args[1], args[2].split("?", 1)[0], *args[3:])
        return True


QUERY_STRINGS_OUT = QueryStringsOut()  # one instance: adding it twice is a no-op


class ReloadBusy(RuntimeError):
    """A reload is already running."""


class Reloader:
    """One reload at a time, whoever asks (POST /admin/reload, SIGHUP): another one while it
    runs is refused at once, not queued behind it for as long as verifying and loading the
    models take. The flag is only touched on the event loop, so it needs no lock."""

    def __init__(self, service: ModelService):
        self.service, self.running = service, False

    async def reload(self) -> Snapshot:
        """``service.reload()`` in a thread; ReloadBusy if one is running."""
        if self.running:
            raise ReloadBusy("a reload is already running")
        self.running = True
        try:
            return await asyncio.to_thread(self.service.reload)
        finally:
            self.running = False


def reloader(app: FastAPI) -> Reloader:
    """The app's one Reloader."""
    if getattr(app.state, "reloader", None) is None:
        app.state.reloader = Reloader(app.state.service)
    return app.state.reloader


def watch_sighup(reloads: Reloader) -> Callable[[], None]:
    """Reload on SIGHUP (only where signals reach this loop: the main thread of a server)."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task] = set()

    def on_sighup() -> None:
        task = loop.create_task(reload_logged(reloads))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, on_sighup)
    except (ValueError, RuntimeError, NotImplementedError, AttributeError):
        log.debug("SIGHUP is not watched here (not the main thread, or no such signal)")
        return lambda: None
    return lambda: loop.remove_signal_handler(signal.SIGHUP)


async def reload_logged(reloads: Reloader) -> None:
    """A reload whose outcome goes to the log (nobody waits for a signal's answer)."""
    try:
        snap = await reloads.reload()
    except ReloadBusy:
        log.warning("SIGHUP: a reload is already running; this one is dropped")
        return
    except ReloadRefused as e:
        log.error("SIGHUP: reload refused, the old model keeps serving: %s", e)
        return
    log.info("SIGHUP: reloaded version %s, serving %s", snap.version, snap.serving)
