"""Security: no file is opened from a path a request gives (texts that look like paths, a
model_dir in a reload body, static paths that climb out); the admin token is needed and
compared in constant time; a reload reads only the configured directory.

Which files a request opens is seen by a Python audit hook (``open``, ``os.listdir``,
``os.scandir`` events, from any thread), installed once for the process and recording
only inside ``opened_during``."""

from __future__ import annotations

import contextlib
import hmac
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.routers import admin
from app.routers.demo import STATIC
from tests.app.helpers import serve

TOKEN = "s3cret-token-0123456789abcdefghijkl"  # 32+ characters, as the settings demand
AUTH = {"Authorization": f"Bearer {TOKEN}"}

PATH_LIKE = ["../../etc/passwd", "/etc/passwd", "....//....//etc/passwd",
             "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "file:///etc/passwd", "~/.ssh/id_rsa",
             "\x00/etc/passwd", "..\\..\\windows\\win.ini", "/proc/self/environ",
             "models-data/default/manifest.json", "../../../../../../../../../../etc/shadow"]

_recording: list[list[str]] = []
_hooked = False


def _hook(event: str, args: tuple) -> None:
    if _recording and event in ("open", "os.listdir", "os.scandir") and args:
        path = args[0]
        if isinstance(path, bytes):
            path = path.decode(errors="replace")
        if isinstance(path, str | Path):
            _recording[-1].append(str(path))


@contextlib.contextmanager
def opened_during() -> Iterator[list[str]]:
    """The paths opened or listed by any thread of this process meanwhile."""
    global _hooked
    if not _hooked:
        sys.addaudithook(_hook)  # cannot be removed: it records nothing outside this block
        _hooked = True
    paths: list[str] = []
    _recording.append(paths)
    try:
        yield paths
    finally:
        _recording.remove(paths)


def outside(paths: list[str], *allowed: Path) -> list[str]:
    roots = [a.resolve() for a in allowed]
    return [p for p in paths if not any(Path(p).resolve().is_relative_to(r) for r in roots)]


def test_request_fields_that_look_like_paths_open_no_file(model_dir):
    with serve(model_dir, admin_token=TOKEN) as c:
        c.post("/complete", json={"text": "오늘 "})  # warm: lazy imports open files too
        c.get("/complete", params={"q": "오늘 "})
        c.post("/probability", json={"text": "오늘", "next": "너무"})
        c.post("/probability", json={"text": "오늘"})
        c.post("/admin/reload", headers=AUTH, json={"model_dir": "elsewhere"})  # FastAPI
        c.post("/admin/reload", json={"model_dir": "elsewhere"})  # reads its source once
        with opened_during() as paths:
            for text in PATH_LIKE:
                assert c.post("/complete", json={"text": text}).status_code == 200
                assert c.get("/complete", params={"q": text}).status_code == 200
                assert c.post("/probability", json={"text": text}).status_code == 200
                assert c.post("/probability", json={"text": "a", "next": text}).status_code \
                    in (200, 422)
                r = c.post("/admin/reload", headers=AUTH, json={"model_dir": text})
                assert r.status_code == 403 and "passwd" not in r.text
                r = c.post("/admin/reload", json={"model_dir": text})  # no token: 401 first
                assert r.status_code == 401
        assert paths == []


def test_static_paths_that_climb_out_are_404_and_open_nothing_outside(client):
    with opened_during() as paths:
        for path in ["/static/../../etc/passwd", "/static/..%2f..%2fetc/passwd",
                     "/static/%2e%2e/%2e%2e/etc/passwd", "/static//etc/passwd",
                     "/static/..%5c..%5cetc%5cpasswd", "/static/%00/etc/passwd",
                     "/../../etc/passwd", "/static/app.js/../../../../etc/passwd"]:
            r = client.get(path)
            assert r.status_code == 404 and "root:" not in r.text, path
    assert outside(paths, STATIC) == []


def test_a_reload_reads_only_the_configured_directory(model_dir):
    with serve(model_dir, admin_token=TOKEN) as c:
        with opened_during() as paths:
            r = c.post("/admin/reload", headers=AUTH, json={"model_dir": str(model_dir)})
            assert r.status_code == 200, r.text
        assert paths, "the reload verified no file"
        assert outside(paths, model_dir) == []


def test_a_reload_body_is_judged_without_touching_the_filesystem(model_dir, monkeypatch):
    import os

    configured = Path(model_dir)
    assert admin.names_configured(str(configured.absolute()), configured)
    assert admin.names_configured(str(configured.resolve()), configured)
    assert admin.names_configured(str(configured.absolute()) + "/./", configured)
    looked_up, realpath = [], os.path.realpath

    def recorded(path, *args, **kw):
        looked_up.append(os.fspath(path))
        return realpath(path, *args, **kw)

    monkeypatch.setattr(os.path, "realpath", recorded)
    other = configured.absolute().parent / "other"
    for wanted in ["/etc", "../../etc/passwd", "\x00", str(configured) + "\x00", "",
                   str(configured.parent), "\udcff", str(configured)]:
        assert not admin.names_configured(wanted, other)
    assert set(looked_up) == {str(other)}  # only the configured directory is resolved


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"},
                                     {"Authorization": "Bearer "},
                                     {"Authorization": f"Bearer {TOKEN}x"},
                                     {"Authorization": f"Bearer {TOKEN[:-1]}"},
                                     {"Authorization": f"bearer{TOKEN}"},
                                     {"Authorization": f"Token {TOKEN}"},
                                     {"Authorization": f"Bearer {TOKEN.upper()}"},
                                     {"X-Admin-Token": TOKEN}])
def test_admin_needs_exactly_the_token(model_dir, headers):
    with serve(model_dir, admin_token=TOKEN) as c:
        r = c.post("/admin/reload", headers=headers, json={"model_dir": "/etc"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in r.text and "/etc" not in r.text


def test_admin_token_is_compared_in_constant_time(model_dir, monkeypatch):
    calls, compare = [], hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(admin.hmac, "compare_digest", spy)
    with serve(model_dir, admin_token=TOKEN) as c:
        assert c.post("/admin/reload", headers={"Authorization": "Bearer nope"}).status_code \
            == 401
        assert c.post("/admin/reload", headers=AUTH).status_code == 200
        r = c.post("/admin/reload", headers=AUTH, json={"model_dir": "/etc"})
        assert r.status_code == 403  # authenticated, but another directory
    assert calls == [(b"nope", TOKEN.encode()), (TOKEN.encode(),) * 2, (TOKEN.encode(),) * 2]
    # compare_digest alone decides: no plain comparison (== token) refuses or admits beside it
    with serve(model_dir, admin_token=TOKEN) as c:
        monkeypatch.setattr(admin.hmac, "compare_digest", lambda a, b: False)
        assert c.post("/admin/reload", headers=AUTH).status_code == 401
        monkeypatch.setattr(admin.hmac, "compare_digest", lambda a, b: True)
        assert c.post("/admin/reload", headers={"Authorization": "Bearer nope"}).status_code \
            == 200
