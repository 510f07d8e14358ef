"""POST /admin/reload: bearer auth, a good reload swaps the model, a bad one is refused
and the old model keeps serving, in-flight requests finish on the old model."""

from __future__ import annotations

import pytest

from tests.app.helpers import copy_version, corrupt, family_file, holding, point, serve

TOKEN = "s3cret-token-0123456789abcdefghijkl"  # 32+ characters, as the settings demand
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def live_dir(model_dir, tmp_path):
    """A model directory link (as train.py publishes) to a private copy, version v1."""
    link = tmp_path / "live"
    point(link, copy_version(model_dir, tmp_path / "v1"))
    return link


def test_reload_is_off_without_a_token(client):
    assert client.post("/admin/reload", headers=AUTH).status_code == 404


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": f"Basic {TOKEN}"}])
def test_reload_needs_the_bearer_token(model_dir, headers):
    with serve(model_dir, admin_token=TOKEN) as c:
        r = c.post("/admin/reload", headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_reload_swaps_in_a_new_version(live_dir, tmp_path):
    token = TOKEN
    with serve(live_dir, admin_token=token) as c:
        assert c.get("/ready").json()["version"] == "v1"
        point(live_dir, copy_version(live_dir, tmp_path / "v2"))
        r = c.post("/admin/reload", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        assert r.json()["version"] == "v2" and r.json()["model"] == "ngram"
        assert c.get("/ready").json()["version"] == "v2"
        reply = c.post("/complete", json={"text": "나는 밥을 머"}).json()
        assert "먹었다" in [x["text"] for x in reply["completions"]]


def test_a_bad_directory_is_refused_and_the_old_model_serves(live_dir, tmp_path):
    token = TOKEN
    auth = {"Authorization": f"Bearer {token}"}
    with serve(live_dir, admin_token=token) as c:
        before = c.post("/complete", json={"text": "오늘 너무 "}).json()
        bad = copy_version(live_dir, tmp_path / "v2")
        corrupt(family_file(bad, "ngram", ".npy"))
        point(live_dir, bad)
        r = c.post("/admin/reload", headers=auth)
        assert r.status_code == 409
        detail = r.json()["detail"]
        assert "sha256 mismatch" in detail and "ngram/" in detail and str(tmp_path) not in detail
        assert c.get("/ready").json()["version"] == "v1"
        after = c.post("/complete", json={"text": "오늘 너무 "}).json()
        assert after["completions"] == before["completions"]
        (tmp_path / "v2" / "manifest.json").unlink()
        r = c.post("/admin/reload", headers=auth)
        assert r.status_code == 409 and "no manifest" in r.json()["detail"]
        m = c.get("/metrics").text
        assert 'autocomplete_reloads_total{result="refused"} 2.0' in m


def test_reload_cannot_name_another_directory(live_dir, model_dir):
    token = TOKEN
    auth = {"Authorization": f"Bearer {token}"}
    with serve(live_dir, admin_token=token) as c:
        r = c.post("/admin/reload", headers=auth, json={"model_dir": "/etc"})
        assert r.status_code == 403 and "/etc" not in r.text
        r = c.post("/admin/reload", headers=auth, json={"model_dir": str(model_dir)})
        assert r.status_code == 403
        r = c.post("/admin/reload", headers=auth, json={"model_dir": str(live_dir)})
        assert r.status_code == 200


def test_in_flight_requests_finish_on_the_old_model(live_dir, tmp_path, monkeypatch):
    token = TOKEN
    with serve(live_dir, admin_token=token) as c:
        old = c.app.state.service.snapshot.ngram.model.engine
        with holding(monkeypatch, old, "search_complete", lambda: c.post(
                "/complete", json={"text": "나는 밥을 머", "k": 3})) as replies:
            point(live_dir, copy_version(live_dir, tmp_path / "v2"))
            r = c.post("/admin/reload", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200
            new = c.post("/complete", json={"text": "나는 밥을 머", "k": 3})  # the new model
            assert new.status_code == 200
        assert replies[0].status_code == 200
        assert replies[0].json()["completions"] == new.json()["completions"]
        assert c.app.state.service.snapshot.ngram.model.engine is not old


def test_reload_fixes_a_degraded_service_and_keeps_a_working_lstm(rnn_model_dir, tmp_path):
    link = tmp_path / "live"
    broken = copy_version(rnn_model_dir, tmp_path / "v1")
    corrupt(family_file(broken, "lstm", ".safetensors"))
    point(link, broken)
    with serve(link, admin_token=TOKEN, deadline_ms=60_000) as c:
        assert c.get("/ready").json()["status"] == "degraded"
        still_broken = copy_version(broken, tmp_path / "v2")  # nothing lost: taken, degraded
        point(link, still_broken)
        r = c.post("/admin/reload", headers=AUTH)
        assert r.status_code == 200 and r.json()["state"] == "degraded"
        assert "sha256 mismatch" in r.json()["reason"]
        point(link, copy_version(rnn_model_dir, tmp_path / "v3"))  # the weights fixed
        r = c.post("/admin/reload", headers=AUTH)
        assert r.status_code == 200 and r.json()["model"] == "lstm" and r.json()["version"] == "v3"
        assert c.post("/complete", json={"text": "오늘 너무 힘"}).json()["model"] == "lstm"
        point(link, broken)  # the lstm would be lost: refused
        r = c.post("/admin/reload", headers=AUTH)
        assert r.status_code == 409 and "lstm" in r.json()["detail"]
        body = c.get("/ready").json()
        assert body["model"] == "lstm" and body["version"] == "v3"
        assert c.post("/complete", json={"text": "I really liked the "}).json()["model"] == "lstm"


def test_a_reload_while_one_runs_is_409_at_once(live_dir, monkeypatch):
    """The second reload is not queued behind the first (which holds the load lock for as
    long as verifying and loading take): 409 with Retry-After, and the first completes."""
    with serve(live_dir, admin_token=TOKEN) as c:
        with holding(monkeypatch, c.app.state.service, "reload",
                     lambda: c.post("/admin/reload", headers=AUTH)) as first:
            r = c.post("/admin/reload", headers=AUTH)
            assert r.status_code == 409 and r.headers["retry-after"]
            assert "already running" in r.json()["detail"]
            assert c.post("/complete", json={"text": "나는 밥을 머"}).status_code == 200
        assert first[0].status_code == 200
        assert c.post("/admin/reload", headers=AUTH).status_code == 200  # free again


@pytest.mark.parametrize("raw", [b"{not json", b'{"model_dir": 5}', b"\xff\xfe\x00",
                                 b'{"model_dir": "' + b"x" * 500 + b'"}'])
def test_without_the_token_the_body_is_not_even_parsed(model_dir, raw, monkeypatch):
    """401 whatever the body: invalid JSON, a wrong type or bytes that are not UTF-8 get the
    same answer as a good body, and the parser is never reached."""
    import json as json_module

    from app.routers import admin

    parsed = []
    monkeypatch.setattr(admin, "json", type("J", (), {"loads": staticmethod(
        lambda data: parsed.append(data) or json_module.loads(data))}))
    with serve(model_dir, admin_token=TOKEN) as c:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer nope"}):
            r = c.post("/admin/reload", content=raw,
                       headers={"content-type": "application/json", **headers})
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert parsed == []
        r = c.post("/admin/reload", content=raw,
                   headers={"content-type": "application/json", **AUTH})
        assert r.status_code in (403, 422) and parsed == [raw]  # with the token: parsed


def test_the_token_can_come_from_a_file(model_dir, tmp_path):
    secret = tmp_path / "admin_token"
    secret.write_text(TOKEN + "\n")  # a secret file ends in a newline more often than not
    with serve(model_dir, admin_token_file=secret) as c:
        assert c.post("/admin/reload", headers=AUTH).status_code == 200
        assert c.post("/admin/reload", headers={"Authorization": "Bearer x"}).status_code == 401
