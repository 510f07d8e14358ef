"""The HTTP contract of ``../shared/bench/autocomplete_eval.py`` for a peer, standard library only.

``POST /complete {"text", "k"}`` answers ``{"completions": [{"text", "probability"}, ...]}``,
best first, at most ``k`` items. ``GET /health`` answers ``{"status": "ok"}``.

The server speaks HTTP/1.1 with keep-alive, disables Nagle's algorithm and writes each
response (status line, headers and body) in one ``send``: a response written in two
packets costs about 40 ms per keep-alive request (Nagle plus delayed ACK).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: ``complete(text, k)`` -> ``[(word, probability), ...]``, best first, at most k items.
Completer = Callable[[str, int], list[tuple[str, float]]]

MAX_K = 100
MAX_BODY = 1 << 20


def split_text(text: str) -> tuple[list[str], str]:
    """The whole words before the cursor and the prefix being typed (``""`` = next word).

    Per the contract, text that is empty or ends with whitespace asks for the next word;
    otherwise the part after the last whitespace is the prefix.
    """
    words = text.split()
    if not text or text[-1].isspace() or not words:
        return words, ""
    return words[:-1], words[-1]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY on the accepted socket
    complete: Completer  # set on the subclass made by make_server

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request access log."""

    def _reply(self, status: int, payload: object) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        head = (
            f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
            "Content-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            "\r\n"
        ).encode("ascii")
        self.wfile.write(head + body)  # one send: no Nagle / delayed-ACK stall
        self.log_request(status)

    def do_GET(self) -> None:
        """``GET /health``."""
        if self.path == "/health":
            self._reply(200, {"status": "ok"})
        else:
            self._reply(404, {"detail": "not found"})

    def do_POST(self) -> None:
        """``POST /complete``."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            self._reply(413, {"detail": "body too large"})
            return
        raw = self.rfile.read(length)
        if self.path != "/complete":
            self._reply(404, {"detail": "not found"})
            return
        try:
            req = json.loads(raw)
            text = req["text"]
            k = int(req.get("k", 3))
            if not isinstance(text, str):
                raise TypeError("text must be a string")
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            self._reply(400, {"detail": f"bad request: {e}"})
            return
        k = max(0, min(k, MAX_K))
        try:
            items = self.complete(text, k)[:k] if k else []
        except Exception as e:  # a peer bug must not kill the keep-alive connection
            self._reply(500, {"detail": f"{type(e).__name__}: {e}"})
            return
        self._reply(200, {"completions": [{"text": w, "probability": p} for w, p in items]})


def make_server(complete: Completer, host: str, port: int) -> ThreadingHTTPServer:
    """A threading HTTP server answering the contract with ``complete``."""
    handler = type("Handler", (_Handler,), {"complete": staticmethod(complete)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve(complete: Completer, host: str, port: int, name: str) -> None:
    """Serve until interrupted; prints one line when the port is open."""
    server = make_server(complete, host, port)
    print(f"{name} listening on http://{host}:{server.server_address[1]}",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
