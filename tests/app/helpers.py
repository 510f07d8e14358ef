"""Helpers of the service tests, imported by the test modules (the fixtures that use them
are in conftest.py): an app on a model directory (``serve``), a model call held until the
test lets go (``holding``), copies of model versions to corrupt and publish, a real server."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from app.main import create_app
from app.settings import Settings

# Starlette asks for the httpx2 fork; plain httpx works and is what the project installs.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
from fastapi.testclient import TestClient  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def make_settings(model_dir: Path, **overrides: Any) -> Settings:
    """Settings on ``model_dir``; the environment cannot change what a test sets."""
    return Settings(model_dir=model_dir, **overrides)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    """Poll ``condition`` until it is truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"gave up waiting for {what}")


@contextlib.contextmanager
def serve(model_dir: Path, wait_neural: bool = True, **overrides: Any) -> Iterator[TestClient]:
    """A TestClient on a new app (lifespan run: the n-gram loaded); with ``wait_neural``,
    also wait until the neural model the directory lists is loaded or has failed."""
    app = create_app(make_settings(model_dir, **overrides))
    with TestClient(app, raise_server_exceptions=False) as client:
        if wait_neural:
            wait_for(lambda: app.state.service.snapshot.pending is None, "the neural model")
        yield client


@contextlib.contextmanager
def holding(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str,
            *requests: Callable[[], T]) -> Iterator[list[T]]:
    """``owner.name`` made to wait until the block ends, while each of ``requests`` runs in
    a thread of its own: the block starts once the first of them is inside the held call
    (the model thread, or the reload, busy), and on leaving it the call goes on and the
    threads are joined. Yields the list their answers are appended to, in the order they
    come (filled once the block is left)."""
    entered, release = threading.Event(), threading.Event()
    real = getattr(owner, name)

    def held(*args: Any, **kw: Any) -> Any:
        entered.set()
        release.wait(30)
        return real(*args, **kw)

    monkeypatch.setattr(owner, name, held)
    answers: list[T] = []
    threads = [threading.Thread(target=lambda r=r: answers.append(r())) for r in requests]
    try:
        for t in threads:
            t.start()
        assert entered.wait(30), f"no request reached {name}"
        yield answers
    finally:
        release.set()
        for t in threads:
            t.join(30)


def copy_version(model_dir: Path, dest: Path) -> Path:
    """A private copy of the published version behind ``model_dir`` (safe to corrupt)."""
    shutil.copytree(Path(model_dir).resolve(), dest)
    return dest


def point(link: Path, target: Path) -> None:
    """Make the symlink ``link`` point to ``target`` in one rename (as ModelWriter publishes)."""
    tmp = link.with_name(link.name + ".new")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def family_file(directory: Path, family: str, suffix: str = "") -> Path:
    """A file of ``family`` in a model directory (the first whose name ends in ``suffix``)."""
    from models.artifacts import family_files, read_manifest

    files = [f for f in family_files(read_manifest(directory), family)
             if f != "tokenizer.model" and f.endswith(suffix)]
    return Path(directory) / sorted(files)[0]


def corrupt(path: Path) -> None:
    """Change one byte of a file, keeping its size."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


# --- a real server ---------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``uvicorn app.main:app`` as a subprocess; its output goes to a log file."""

    def __init__(self, model_dir: Path, log: Path, main: bool = False, **env: str):
        """``main``: run ``python -m app`` (host and port from the settings) instead."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        environ = {**os.environ, "AUTOCOMPLETE_MODEL_DIR": str(model_dir),
                   "AUTOCOMPLETE_HOST": "127.0.0.1", "AUTOCOMPLETE_PORT": str(self.port), **env}
        argv = ["-m", "app"] if main else [
            "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(self.port),
            "--log-level", "info"]
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=environ,
                                         stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def get(self, path: str) -> httpx.Response | None:
        try:
            return httpx.get(self.url + path, timeout=5)
        except httpx.HTTPError:
            return None

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited ({self.proc.returncode}):\n{self.output()}")
            r = self.get("/ready")
            return r is not None and r.status_code == 200
        wait_for(ready, f"the server to be ready; its log:\n{self.output()}")

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def run_server(model_dir: Path, log: Path, **env: str) -> Iterator[Server]:
    server = Server(model_dir, log, **env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


