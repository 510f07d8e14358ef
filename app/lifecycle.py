"""Start and stop: load the models when the app starts, reload them on SIGHUP."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.service import ModelService, ReloadRefused

log = logging.getLogger("app.lifecycle")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The n-gram is loaded before the first request is accepted; the recurrent model
    follows in a background thread."""
    service: ModelService = app.state.service
    _log_like_uvicorn()
    await asyncio.to_thread(service.start)
    stop_watching = watch_sighup(service)
    try:
        yield
    finally:
        stop_watching()
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


def watch_sighup(service: ModelService) -> Callable[[], None]:
    """Reload on SIGHUP (only where signals reach this loop: the main thread of a server)."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task] = set()

    def on_sighup() -> None:
        task = loop.create_task(reload_logged(service))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, on_sighup)
    except (ValueError, RuntimeError, NotImplementedError, AttributeError):
        log.debug("SIGHUP is not watched here (not the main thread, or no such signal)")
        return lambda: None
    return lambda: loop.remove_signal_handler(signal.SIGHUP)


async def reload_logged(service: ModelService) -> None:
    """A reload whose outcome goes to the log (nobody waits for a signal's answer)."""
    try:
        snap = await asyncio.to_thread(service.reload)
    except ReloadRefused as e:
        log.error("SIGHUP: reload refused, the old model keeps serving: %s", e)
        return
    log.info("SIGHUP: reloaded version %s, serving %s", snap.version, snap.serving)
