"""The server's edge: uvicorn's HTTP protocol with a request-receive timeout.

uvicorn times out idle keep-alive connections, but nothing else: a client that opens a
connection and sends nothing, or sends its headers a byte every few seconds (slowloris),
holds a connection, and a slot of ``--limit-concurrency``, for as long as it likes. Here
a request has ``request_timeout_s`` (AUTOCOMPLETE_REQUEST_TIMEOUT_S) from its first byte
(or, for the first request, from the connection) until its headers and whole body have
arrived; slower, it gets ``408 Request Timeout`` and the connection is closed. Idle time
between requests stays uvicorn's ``--timeout-keep-alive``.

    uvicorn app.main:app --http app.edge:ReceiveTimeoutProtocol     (python -m app does)
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from app.settings import get_settings

_BODY = b'{"detail": "the request did not arrive in time"}'
_408 = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_BODY), _BODY))


class ReceiveTimeoutProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's protocol (httptools, or h11 without it), with a deadline on receiving each
    request. Both keep the request being answered as ``self.cycle`` (a new one once a
    request's headers are parsed) and mark its body complete with ``more_body = False``."""

    timeout_s: float | None = None  # None: AUTOCOMPLETE_REQUEST_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._before: Any = None  # the cycle before the request being received

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # the first bytes of a new request
        super().data_received(data)
        cycle = self.cycle
        if self._timer is not None and cycle is not None and cycle is not self._before \
                and not cycle.more_body:
            self._disarm()  # headers and body are in

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        seconds = self.timeout_s if self.timeout_s is not None else \
            get_settings().request_timeout_s
        self._before = self.cycle
        self._timer = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self.cycle is self._before:  # the headers never came: nothing has answered yet
            self.transport.write(_408)
        self.transport.close()  # a body that stopped coming: the app sees a disconnect
