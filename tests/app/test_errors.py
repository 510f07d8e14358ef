"""A failure inside the service is a generic 500 that names nothing of the server; no model
at all is a 503 that /ready explains."""

from __future__ import annotations

import re

from tests.app.helpers import holding, serve


def test_500_has_no_stack_trace_and_no_path(client, model_dir, monkeypatch, caplog):
    engine = client.app.state.service.snapshot.ngram.model.engine

    def broken(*args, **kw):
        raise RuntimeError(f"boom in {model_dir}/ngram/probs2.npy")

    monkeypatch.setattr(engine, "search_complete", broken)
    r = client.post("/complete", json={"text": "나는 밥을 머"})
    assert r.status_code == 500
    body = r.json()
    assert set(body) == {"detail", "error_id"} and body["detail"] == "internal server error"
    assert "boom" not in r.text and "Traceback" not in r.text and "/" not in r.text
    # the log has what the client does not: the id, the trace
    assert body["error_id"] in caplog.text and "boom" in caplog.text
    assert client.get("/health").status_code == 200  # the service goes on


def test_without_a_model_the_service_is_up_but_not_ready(tmp_path):
    missing = tmp_path / "nowhere" / "model"
    with serve(missing) as c:
        assert c.get("/health").status_code == 200
        r = c.get("/ready")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "unavailable" and body["model"] is None
        assert "manifest.json" in body["reason"] and str(tmp_path) not in body["reason"]
        r = c.post("/complete", json={"text": "오늘 "})
        assert r.status_code == 503 and r.headers["retry-after"]
        assert str(tmp_path) not in r.text
        assert c.post("/probability", json={"text": "hello"}).status_code == 503
        assert c.get("/model").status_code == 503


def test_messages_never_carry_a_directory():
    from app.service import public_message

    msg = "/srv/models/.default.versions/2026-x/lstm/model.safetensors: sha256 mismatch"
    assert public_message(msg, "/srv/models/.default.versions/2026-x") == \
        "lstm/model.safetensors: sha256 mismatch"
    cleaned = public_message("cannot read /home/me/corpus/train.txt (denied)")
    assert cleaned == "cannot read train.txt (denied)"
    assert not re.search(r"/\w+/", public_message("a /b/c/d.txt and /e/f.bin"))


def _clean(r, *secrets: str) -> None:
    """An error body: JSON with a ``detail``, no trace, no file, no server path."""
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert "detail" in body
    text = r.text
    for bad in ("Traceback", 'File "', ".py", "/work", "/tmp", "/home", "site-packages",
                *secrets):
        assert bad not in text, (r.status_code, bad, text)


def test_every_error_body_is_clean(model_dir, tmp_path, monkeypatch):
    token = "s3cret-token-0123456789abcdefghijkl"
    with serve(model_dir, admin_token=token, max_body_bytes=1024, max_concurrency=1) as c:
        secrets = (str(model_dir), token)
        r = c.get("/no/such/page")
        assert r.status_code == 404
        _clean(r, *secrets)
        r = c.delete("/complete")
        assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
        _clean(r, *secrets)
        r = c.post("/complete", json={"text": "가" * 2000})
        assert r.status_code == 413
        _clean(r, *secrets)
        for raw in (b'{"text": 42}', b'{"text": "a", "k": 99}', b'{"text": "\\ud800"}',
                    b"{not json", b'{"text": "\\u0000/etc/passwd", "k": "../.."}'):
            r = c.post("/complete", content=raw, headers={"content-type": "application/json"})
            assert r.status_code == 422, raw
            _clean(r, *secrets)
        r = c.post("/admin/reload", json={"model_dir": "/etc"})
        assert r.status_code == 401
        _clean(r, *secrets)
        auth = {"Authorization": f"Bearer {token}"}
        r = c.post("/admin/reload", headers=auth, json={"model_dir": str(tmp_path)})
        assert r.status_code == 403
        _clean(r, *secrets, str(tmp_path))

        engine = c.app.state.service.snapshot.ngram.model.engine
        with holding(monkeypatch, engine, "search_complete",
                     lambda: c.post("/complete", json={"text": "오늘 "})):
            r = c.post("/complete", json={"text": "오늘 "})
            assert r.status_code == 503 and r.headers["retry-after"]
            _clean(r, *secrets)
    with serve(tmp_path / "nowhere", admin_token=token) as c:  # no model: 503, 409
        for r in (c.post("/complete", json={"text": "오늘 "}), c.get("/model"),
                  c.post("/probability", json={"text": "오늘"})):
            assert r.status_code == 503
            _clean(r, str(tmp_path), token)
        r = c.post("/admin/reload", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 409
        _clean(r, str(tmp_path), token)


def test_405_allows_every_method_of_the_path(client):
    for method, path, allow in [("PUT", "/complete", "GET, POST"),
                                ("OPTIONS", "/complete", "GET, POST"),
                                ("GET", "/probability", "POST"), ("POST", "/health", "GET")]:
        r = client.request(method, path)
        assert r.status_code == 405 and r.headers["allow"] == allow, (method, path)
