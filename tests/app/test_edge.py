"""The edge, on a real server started as the image starts it (``python -m app``): a request
that does not arrive in time is 408 and closed (slowloris) while others are answered, idle
keep-alive is not cut by it, a connection limit, X-Forwarded-For believed only from the
proxy, keystrokes kept out of the access log, and settings that refuse to start."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.app.helpers import ROOT, Server, free_port, wait_for

KOREAN = "나는 밥을 머"


@contextlib.contextmanager
def edge_server(model_dir: Path, log: Path, **env: str) -> Iterator[Server]:
    server = Server(model_dir, log, main=True, **env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def raw(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    sock.settimeout(60)  # far beyond the 1 s the server is given: a hang fails the test
    return sock


def read_response(sock: socket.socket) -> bytes:
    """One whole response of a kept-alive connection: its head, then Content-Length bytes
    (a loaded machine may deliver them in several reads)."""
    out = b""
    while b"\r\n\r\n" not in out:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed after {out!r}"
        out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed inside a body"
        body += chunk
    return head + b"\r\n\r\n" + body


def read_all(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


@pytest.fixture
def edge(model_dir, tmp_path) -> Iterator[Server]:
    with edge_server(model_dir, tmp_path / "uvicorn.log", AUTOCOMPLETE_REQUEST_TIMEOUT_S="1",
                     AUTOCOMPLETE_MAX_CONNECTIONS="6") as server:
        yield server


def test_headers_that_never_end_are_408_and_closed_while_others_are_answered(edge):
    slow = raw(edge)
    slow.sendall(b"POST /complete HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
    r = httpx.post(edge.url + "/complete", json={"text": KOREAN}, timeout=30)
    assert r.status_code == 200 and "먹었다" in [c["text"] for c in r.json()["completions"]]
    answer = read_all(slow)  # the server closes it
    assert answer.startswith(b"HTTP/1.1 408 ")
    slow.close()


def test_a_body_that_stops_coming_is_closed(edge):
    slow = raw(edge)
    slow.sendall(b"POST /complete HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"text\": \"")
    assert b" 200 " not in read_all(slow)
    slow.close()
    silent = raw(edge)  # a connection that sends nothing at all
    assert read_all(silent).startswith(b"HTTP/1.1 408 ")
    silent.close()


def test_idle_keep_alive_between_requests_is_not_cut(edge):
    """The receive timeout starts at a request's first byte: a kept-alive connection idle
    for longer than it still takes the next request."""
    with httpx.Client(base_url=edge.url, timeout=30) as client:
        first = client.post("/complete", json={"text": "this movie is rea"})
        assert first.status_code == 200
        sock = raw(edge)
        sock.sendall(b"GET /noop HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in read_response(sock)
        # idle for three receive timeouts, then the next request on the same connection
        wait_for(lambda: edge.log.read_text().count('"GET /noop') >= 1, "the first /noop")
        sock.settimeout(3)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # nothing comes, and the connection is not closed
        sock.settimeout(60)
        sock.sendall(b"GET /noop HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in read_response(sock)
        sock.close()


def test_beyond_the_connection_limit_new_requests_get_503(edge):
    """AUTOCOMPLETE_MAX_CONNECTIONS is 6: five open connections and the new one's request."""
    held = []
    try:
        for _ in range(5):  # each made a request and stays open (keep-alive)
            sock = raw(edge)
            sock.sendall(b"GET /noop HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b"200 OK" in sock.recv(65536)
            held.append(sock)
        r = httpx.post(edge.url + "/complete", json={"text": KOREAN}, timeout=30)
        assert r.status_code == 503
    finally:
        for sock in held:
            sock.close()
    wait_for(lambda: httpx.get(edge.url + "/noop", timeout=30).status_code == 200,
             "a free connection")


def client_in_log(server: Server, marker: str) -> str:
    """The client address of the access log line of the request to ``marker``."""
    line = wait_for(lambda: next((x for x in server.log.read_text().splitlines()
                                  if marker in x), None), f"the access log line of {marker}")
    return line.split(" - ")[0].split()[-1]


@pytest.mark.parametrize(("trusted", "believed"), [("127.0.0.1", True), ("10.1.2.3", False)])
def test_x_forwarded_for_is_believed_only_from_the_proxy(model_dir, tmp_path, trusted,
                                                          believed):
    with edge_server(model_dir, tmp_path / "uvicorn.log",
                     AUTOCOMPLETE_FORWARDED_ALLOW_IPS=trusted) as server:
        r = httpx.get(server.url + "/health?marker", headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 200
        client = client_in_log(server, "GET /health")
        assert client.startswith("203.0.113.9" if believed else "127.0.0.1"), client


@pytest.mark.parametrize("keep", [False, True])
def test_keystrokes_stay_out_of_the_access_log(model_dir, tmp_path, keep):
    env = {"AUTOCOMPLETE_LOG_QUERY_STRINGS": "true"} if keep else {}
    with edge_server(model_dir, tmp_path / "uvicorn.log", **env) as server:
        for q in ["나는 밥을 머", "비밀번호는ㅂ", "my secret plan is"]:
            assert httpx.get(server.url + "/complete", params={"q": q}).status_code == 200
        client_in_log(server, '"GET /complete')
        log = server.log.read_text()
    encoded = httpx.URL("/complete", params={"q": "my secret plan is"}).query.decode()
    assert ("secret" in log) is keep and (encoded in log) is keep
    assert ("q=" in log) is keep
    assert '"GET /complete HTTP/1.1" 200' in log or keep


@pytest.mark.parametrize("token", ["", "short-token"])
@pytest.mark.parametrize("argv", [["-m", "app"], ["-m", "uvicorn", "app.main:app"]])
def test_an_empty_or_short_admin_token_refuses_to_start_saying_why(model_dir, token, argv):
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "AUTOCOMPLETE_MODEL_DIR": str(model_dir),
           "AUTOCOMPLETE_ADMIN_TOKEN": token, "AUTOCOMPLETE_PORT": str(port)}
    run = subprocess.run([sys.executable, *argv, "--port", str(port)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "admin token is" in run.stderr and "at least 32 characters" in run.stderr
    assert "Uvicorn running" not in run.stderr
    if token:
        assert token not in run.stderr
