"""Fault drills against a real ``uvicorn app.main:app`` process: model versions swapped by
SIGHUP and by POST /admin/reload while clients keep typing (not one request fails, a broken
version is refused in between); SIGTERM with requests in flight (each is answered, then the
process exits 0); a request line and a body of 100 KB (refused at once, never a 5xx)."""

from __future__ import annotations

import re
import signal
import socket
import threading
import time
import urllib.parse

import httpx
import pytest

from models import hangul
from tests.app.helpers import (
    ROOT,
    Server,
    copy_version,
    corrupt,
    family_file,
    point,
    run_server,
    wait_for,
)

TOKEN = "drill-token-0123456789abcdefghijklm"  # 32+ characters
SENTENCES = ["나는 밥을 먹었다 ㅋㅋ 오늘 너무 힘들어", "I really liked the movie",
             "영화 너무 재밌었어요 진짜 웃겨"]


def keystrokes() -> list[str]:
    """Every screen of the sentences typed key by key (Hangul jamo by jamo)."""
    texts = []
    for sentence in SENTENCES:
        words = sentence.split()
        for i, word in enumerate(words):
            context = " ".join(words[:i]) + (" " if i else "")
            texts += [context + s for s in ["", *hangul.screens(word)]]
    return texts


class Typist(threading.Thread):
    """Sends keystrokes as fast as answers come (POST and GET /complete, /probability now
    and then) until told to stop; keeps every status and error."""

    def __init__(self, url: str, offset: int):
        super().__init__(daemon=True)
        self.url, self.offset = url, offset
        self.stop, self.answers, self.failures = threading.Event(), 0, []
        self.models: set[str] = set()

    def run(self) -> None:
        texts = keystrokes()
        with httpx.Client(base_url=self.url, timeout=30) as http:
            i = self.offset
            while not self.stop.is_set():
                text = texts[i % len(texts)]
                try:
                    if i % 7 == 0:
                        r = http.post("/probability", json={"text": text or "오늘"})
                    elif i % 2:
                        r = http.get("/complete", params={"q": text, "k": 3})
                    else:
                        r = http.post("/complete", json={"text": text, "k": 3})
                except httpx.HTTPError as e:
                    self.failures.append(f"{text!r}: {type(e).__name__} {e}")
                else:
                    if r.status_code != 200:
                        self.failures.append(f"{text!r}: {r.status_code} {r.text[:200]}")
                    else:
                        self.answers += 1
                        self.models.add(r.json()["model"])
                i += 1


def ready(server: Server) -> dict:
    r = server.get("/ready")
    return r.json() if r is not None and r.status_code == 200 else {}


@pytest.mark.slow
def test_versions_swap_under_load_without_one_failed_request(rnn_model_dir, tmp_path):
    link = tmp_path / "live"
    point(link, copy_version(rnn_model_dir, tmp_path / "v1"))
    with run_server(link, tmp_path / "uvicorn.log", AUTOCOMPLETE_ADMIN_TOKEN=TOKEN) as server:
        wait_for(lambda: ready(server).get("model") == "lstm", "the lstm model")
        typists = [Typist(server.url, offset) for offset in (0, 11)]
        for t in typists:
            t.start()
        try:
            wait_for(lambda: all(t.answers > 10 for t in typists), "the first answers")
            swaps = 0
            for n in range(2, 8):
                version = copy_version(rnn_model_dir, tmp_path / f"v{n}")
                if n == 4:  # a broken version on the way: refused, v3 keeps serving
                    corrupt(family_file(version, "lstm", ".safetensors"))
                point(link, version)
                if n % 2:
                    server.signal(signal.SIGHUP)
                else:
                    r = httpx.post(server.url + "/admin/reload", timeout=60,
                                   headers={"Authorization": f"Bearer {TOKEN}"})
                    assert r.status_code == (409 if n == 4 else 200), r.text
                if n == 4:
                    assert ready(server)["version"] == "v3"
                    continue
                swaps += 1
                wait_for(lambda n=n: ready(server).get("version") == f"v{n}", f"version v{n}")
                assert ready(server)["model"] == "lstm"
                before = sum(t.answers for t in typists)
                wait_for(lambda b=before: sum(t.answers for t in typists) > b + 20,
                         "answers from the new version")
        finally:
            for t in typists:
                t.stop.set()
            for t in typists:
                t.join(60)
        failures = [f for t in typists for f in t.failures]
        assert failures == [], failures[:5]
        assert sum(t.answers for t in typists) > 200 and swaps == 5
        assert set().union(*(t.models for t in typists)) <= {"lstm", "ngram"}
        metrics = server.get("/metrics").text
        assert 'autocomplete_reloads_total{result="ok"} 5.0' in metrics
        assert 'autocomplete_reloads_total{result="refused"} 1.0' in metrics
        assert server.proc.poll() is None


SLOW_SCORE = '''
import os, time
from models import completion

_delay, _score = float(os.environ["DRILL_SCORE_DELAY_S"]), completion.CompletionEngine.score

def _slow_score(self, *args, **kw):
    time.sleep(_delay)
    return _score(self, *args, **kw)

completion.CompletionEngine.score = _slow_score
'''


@pytest.mark.slow
@pytest.mark.parametrize("main", [True, False], ids=["python -m app", "uvicorn app.main:app"])
def test_sigterm_answers_the_requests_in_flight_then_exits(model_dir, tmp_path, main):
    hooks = tmp_path / "hooks"  # every sentence score takes a second longer: latency injected
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SLOW_SCORE)
    server = Server(model_dir, tmp_path / "uvicorn.log", main=main, DRILL_SCORE_DELAY_S="1.0",
                    PYTHONPATH=f"{hooks}:{ROOT}")
    try:
        server.wait_ready()
        replies: dict[int, httpx.Response | Exception] = {}

        def ask(i: int) -> None:
            try:
                replies[i] = httpx.post(server.url + "/probability", timeout=60,
                                        json={"text": f"오늘 너무 힘들어 {i}"})
            except httpx.HTTPError as e:
                replies[i] = e

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        wait_for(lambda: "autocomplete_model_requests_in_flight 3.0"
                 in (server.get("/metrics") or httpx.Response(0)).text, "3 requests in flight")
        t0 = time.monotonic()
        server.signal(signal.SIGTERM)
        wait_for(lambda: refuses_connections(server.url), "the listening socket to close", 10)
        assert len(replies) < 3  # closed while requests were still in flight
        for t in threads:
            t.join(60)
        # python -m app exits 0; bare uvicorn raises SIGTERM again after the same clean stop
        assert server.proc.wait(timeout=60) == (0 if main else -signal.SIGTERM), \
            server.output()
        took = time.monotonic() - t0
    finally:
        server.stop()
    for i in range(3):
        r = replies[i]
        assert isinstance(r, httpx.Response) and r.status_code == 200, r
        assert r.json()["log_prob"] < 0 and r.json()["chars"] == len(f"오늘 너무 힘들어 {i}")
    assert took >= 1.0  # the model's queue was worked off before the exit
    log = server.output()
    assert "Application shutdown complete" in log and "Traceback" not in log


def refuses_connections(url: str) -> bool:
    """Whether a new connection to ``url`` is refused (nobody listens any more)."""
    parts = urllib.parse.urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=1).close()
    except OSError:
        return True
    return False


def raw_request(url: str, data: bytes) -> bytes:
    """Send ``data`` on a new connection; what comes back before it closes (10 s at most)."""
    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(data)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return answer


def test_100_kb_request_line_and_body_are_refused_at_once(live_server):
    text = "영화 너무 재밌었어요 ㅋㅋ " * 7000  # 100,000 characters
    line = f"GET /complete?q={urllib.parse.quote(text)} HTTP/1.1\r\nHost: x\r\n" \
           "Connection: close\r\n\r\n"
    t0 = time.monotonic()
    answer = raw_request(live_server.url, line.encode())
    status = int(re.match(rb"HTTP/1.1 (\d+)", answer).group(1))
    assert status in (400, 414) and time.monotonic() - t0 < 5  # uvicorn: the line is too long
    body = ('{"text": "' + text + '"}').encode()
    r = httpx.post(live_server.url + "/complete", content=body, timeout=10,
                   headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.headers["connection"] == "close"
    assert live_server.get("/ready").status_code == 200  # and the server goes on
