"""A failure inside the service is a generic 500 that names nothing of the server; no model
at all is a 503 that /ready explains."""

from __future__ import annotations

import re

from tests.app.conftest import serve


def test_500_has_no_stack_trace_and_no_path(client, model_dir, monkeypatch, caplog):
    engine = client.app.state.service.snapshot.ngram.model.engine

    def broken(*args, **kw):
        raise RuntimeError(f"boom in {model_dir}/ngram/probs2.npy")

    monkeypatch.setattr(engine, "complete", broken)
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
