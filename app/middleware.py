"""Pure ASGI middleware: request metrics, the body-size limit and the concurrency limit.

Both limits answer before any JSON is parsed or any model runs: a body over
``max_body_bytes`` gets 413 (from its Content-Length, or while it is read), a model
request beyond ``max_concurrency`` in flight gets 503 with Retry-After at once, so
nothing waits in an unbounded queue.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import Metrics


async def send_json(send: Send, status: int, body: dict[str, Any],
                    headers: Iterable[tuple[str, str]] = ()) -> None:
    """A whole JSON response in one body message."""
    data = json.dumps(body, ensure_ascii=False).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
           *((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers)]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


class MetricsMiddleware:
    """Counts every HTTP request and times it, labelled by the route's path template
    (paths no route knows share one label, so scans cannot blow up the series)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, known_paths: Iterable[str]):
        self.app, self.metrics, self.known = app, metrics, frozenset(known_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0, status = time.perf_counter(), 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or scope["path"]
            endpoint = path if path in self.known else "other"
            self.metrics.requests.labels(endpoint, scope["method"], str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - t0)


class LimitsMiddleware:
    """413 for a body over ``max_body_bytes``; 503 + Retry-After for a model request
    (``limited_paths``) beyond ``max_concurrency`` in flight."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int,
                 max_concurrency: int, retry_after_s: int, limited_paths: Iterable[str]):
        self.app, self.metrics = app, metrics
        self.max_body, self.max_concurrency = max_body_bytes, max_concurrency
        self.retry_after = str(retry_after_s)
        self.limited = frozenset(limited_paths)
        self.in_flight = 0  # only touched on the event loop: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            body = await self._read_body(scope, receive, send)
            if body is None:
                return
            receive = _replay(body, receive)
        if scope["path"] not in self.limited:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_concurrency:
            self.metrics.rejected.labels("overloaded").inc()
            await send_json(send, 503, {"detail": "too many requests in flight; retry shortly"},
                            [("retry-after", self.retry_after)])
            return
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> list[Message] | None:
        """The body's messages, or None after answering 413."""
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0  # the server rejects a malformed length itself
                if declared > self.max_body:
                    await self._too_large(send)
                    return None
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages  # disconnected: let the app see it
            size += len(message.get("body", b""))
            if size > self.max_body:
                await self._too_large(send)
                return None
            if not message.get("more_body", False):
                return messages

    async def _too_large(self, send: Send) -> None:
        self.metrics.rejected.labels("body_too_large").inc()
        await send_json(send, 413, {"detail": f"request body over {self.max_body} bytes"},
                        [("connection", "close")])


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that gives back the messages already read, then the real ones."""
    queue = list(messages)

    async def replayed() -> Message:
        return queue.pop(0) if queue else await receive()

    return replayed
