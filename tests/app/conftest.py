"""Fixtures of the service tests: apps on the session's model directories, a real server
(the helpers they use, and the tests import, are in helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.helpers import Server, TestClient, run_server, serve


@pytest.fixture
def client(model_dir: Path) -> Iterator[TestClient]:
    """The service on the n-gram sample model."""
    with serve(model_dir) as c:
        yield c


@pytest.fixture(scope="session")
def live_server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real server on the n-gram sample model, shared by the end-to-end tests."""
    with run_server(model_dir, tmp_path_factory.mktemp("server") / "uvicorn.log") as server:
        yield server

