"""POST /learn, /complete with a user, DELETE /users/<id>: learned words rise, anonymous
answers do not move, deletion and expiry restore them, limits and privacy, a store that goes
away, and two real servers sharing one Redis."""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.app.helpers import Server, free_port, serve, wait_for

KOREAN = ["마코토 소령 나오는 편이 제일 좋음", "마코토 소령 성우 바뀐거 실망임ㅠㅠ",
          "마코토 소령 액션은 최고ㅋㅋ", "쿠사나기 마코토 다시 보고싶다", "마코토최고 진짜"]
ENGLISH = ["Motoko Kusanagi is the best major", "Kusanagi Motoko saves the movie"]


def new_user() -> str:
    return f"t-{uuid.uuid4()}"


def words(client, text: str, user: str | None = None, k: int = 5) -> list[str]:
    body = {"text": text, "k": k} | ({"user": user} if user else {})
    r = client.post("/complete", json=body)
    assert r.status_code == 200, r.text
    return [c["text"] for c in r.json()["completions"]]


def answer(client, text: str, user: str | None = None) -> list[tuple[str, float]]:
    """The completions with their probabilities: what must equal the anonymous answer."""
    body = {"text": text} | ({"user": user} if user else {})
    r = client.post("/complete", json=body)
    assert r.status_code == 200, r.text
    return [(c["text"], c["log_prob"]) for c in r.json()["completions"]]


def learn(client, user: str, *texts: str) -> None:
    for text in texts:
        r = client.post("/learn", json={"user": user, "text": text})
        assert r.status_code == 204, r.text


PROBES = ["마", "마ㅋ", "어제 본 영화 마코토ㅊ", "쿠사나기 ", "I love Mo", "Kusanagi ",
          "나는 밥을 머", ""]


def test_learned_words_rise_and_anonymous_answers_do_not_move(client):
    before = {t: answer(client, t) for t in PROBES}
    user = new_user()
    assert words(client, "마", user)[0] != "마코토"  # nothing learned yet: everyone's
    learn(client, user, *KOREAN, *ENGLISH)
    assert words(client, "마", user)[0] == "마코토"  # half-typed
    assert words(client, "마ㅋ", user)[0] == "마코토"
    assert words(client, "어제 본 영화 마코토ㅊ", user)[0] == "마코토최고"  # no spaces
    assert words(client, "쿠사나기 ", user)[0] == "마코토"  # the user's next word
    assert words(client, "I love Mo", user)[0] == "Motoko"
    assert words(client, "Kusanagi ", user)[0] == "Motoko"
    # everyone else keeps exactly their answers (a user who taught nothing too)
    assert {t: answer(client, t) for t in PROBES} == before
    assert {t: answer(client, t, new_user()) for t in PROBES} == before
    # and this user's answers on what it never wrote keep their order
    assert words(client, "나는 밥을 머", user) == words(client, "나는 밥을 머")
    # GET and /suggest take the user too; a personal answer is never cached
    r = client.get("/complete", params={"q": "마", "user": user})
    assert r.json()["completions"][0]["text"] == "마코토"
    assert r.headers["cache-control"] == "private, no-store"
    assert 'user;desc="personal"' in r.headers["server-timing"]
    r = client.get("/suggest", params={"q": "쿠사나기 마", "user": user})
    assert r.json()[1][0] == "쿠사나기 마코토"
    assert client.get("/complete", params={"q": "마"}).headers["cache-control"].startswith(
        "public")


def test_delete_restores_the_anonymous_answers(client):
    user = new_user()
    learn(client, user, *KOREAN, *ENGLISH)
    assert answer(client, "마", user) != answer(client, "마")
    assert client.delete(f"/users/{user}").status_code == 204
    for text in PROBES:
        assert answer(client, text, user) == answer(client, text)
    r = client.post("/complete", json={"text": "마", "user": user})
    assert 'user;desc="anonymous"' in r.headers["server-timing"]
    assert client.delete(f"/users/{user}").status_code == 204  # nothing left: still 204
    users = client.app.state.users
    assert users._held(user) is None
    assert all(user not in models for models in users._models.values())


def test_learned_text_expires(model_dir):
    with serve(model_dir, user_ttl_s=3600) as client:
        users, user = client.app.state.users, new_user()
        learn(client, user, *KOREAN)
        assert words(client, "마", user)[0] == "마코토"
        real = users.clock
        users.clock = lambda: real() + 3601  # an hour and a second later
        assert answer(client, "마", user) == answer(client, "마")
        learn(client, user, ENGLISH[0])  # taught again: only the new sentence counts
        assert words(client, "I love Mo", user)[0] == "Motoko"
        assert "마코토" not in words(client, "마", user) + words(client, "마")


def test_the_oldest_sentences_are_forgotten_first(model_dir):
    with serve(model_dir, user_max_texts=2) as client:
        user = new_user()
        learn(client, user, "Kusanagi Motoko", "쿠사나기 마코토", "쿠사나기 마코토")
        assert words(client, "I love Mo", user) == words(client, "I love Mo")
        assert words(client, "마", user)[0] == "마코토"
        texts = client.app.state.users.store.read(user, time.time())[1]
        assert [t for _, _, t in texts] == ["쿠사나기 마코토", "쿠사나기 마코토"]
    with serve(model_dir, user_max_chars=30) as client:  # by characters too
        user = new_user()
        learn(client, user, "Kusanagi Motoko", "쿠사나기 마코토 소령", "마코토 소령 최고")
        texts = client.app.state.users.store.read(user, time.time())[1]
        assert [t for _, _, t in texts] == ["쿠사나기 마코토 소령", "마코토 소령 최고"]


def test_a_replica_holds_at_most_the_users_it_may(model_dir):
    with serve(model_dir, user_cache_users=2) as client:
        users = [new_user() for _ in range(4)]
        for user in users:
            learn(client, user, KOREAN[0])
            assert words(client, "마", user)[0] == "마코토"
        state = client.app.state.users
        assert len(state._texts) == 2
        assert all(len(models) <= 2 for models in state._models.values())
        assert words(client, "마", users[0])[0] == "마코토"  # read again from the store
        state.cache_s = 0.0
        assert state.sweep() == 2 and not state._texts  # idle users dropped
        assert all(len(models) == 0 for models in state._models.values())


@pytest.mark.parametrize("body, field", [
    ({"user": "", "text": "좋아요"}, "user"), ({"user": "a b", "text": "좋아요"}, "user"),
    ({"user": "x" * 65, "text": "좋아요"}, "user"), ({"user": "-x", "text": "좋아요"}, "user"),
    ({"user": "../etc", "text": "좋아요"}, "user"), ({"user": "u", "text": "   "}, "text"),
    ({"user": "u", "text": "비밀일기" * 300}, "text"), ({"user": 7, "text": "좋아요"}, "user"),
    ({"user": "u"}, "text")])
def test_ids_and_texts_are_checked_and_never_echoed(client, body, field):
    r = client.post("/learn", json=body)
    assert r.status_code == 422 and field in r.json()["message"]
    assert "비밀일기" not in r.text


def test_bad_ids_elsewhere_are_422(client):
    assert client.post("/complete", json={"text": "마", "user": "a b"}).status_code == 422
    assert client.get("/complete", params={"q": "마", "user": "ㅋㅋ"}).status_code == 422
    assert client.get("/suggest", params={"q": "마", "user": "x" * 65}).status_code == 422
    assert client.delete("/users/a%20b").status_code == 422
    assert client.delete("/users/" + "x" * 65).status_code == 422


def test_learned_text_stays_out_of_the_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    user, secret = new_user(), "비밀일기장 내용은 로그에 없다"
    learn(client, user, secret)
    words(client, "비밀", user)
    client.delete(f"/users/{user}")
    assert "비밀일기장" not in caplog.text


def test_a_store_that_is_away_gives_anonymous_answers_and_ready_says_so(model_dir):
    port = free_port()  # nothing listens there
    with serve(model_dir, user_store=f"redis://127.0.0.1:{port}/0",
               user_store_retry_s=0.0) as client:
        user = new_user()
        for text in PROBES:
            assert answer(client, text, user) == answer(client, text)
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        store = ready.json()["user_store"]
        assert store["kind"] == "redis" and store["status"] == "down"
        assert str(port) in store["reason"]
        for r in (client.post("/learn", json={"user": user, "text": "마코토"}),
                  client.delete(f"/users/{user}")):
            assert r.status_code == 503 and "user store is unavailable" in r.json()["detail"]
            assert r.headers["retry-after"]
            assert "마코토" not in r.text


def test_a_store_that_fails_mid_run_degrades_to_anonymous(model_dir):
    with serve(model_dir, user_store_retry_s=60.0) as client:
        user = new_user()
        learn(client, user, *KOREAN)
        assert words(client, "마", user)[0] == "마코토"
        store = client.app.state.users.store

        def broken(*args, **kwargs):
            from app.users import StoreUnavailable
            raise StoreUnavailable("memory store: injected fault")
        store.revision = store.ping = broken
        assert answer(client, "마", user) == answer(client, "마")
        assert client.get("/ready").json()["user_store"]["status"] == "down"


def test_two_apps_share_a_sqlite_file(model_dir, tmp_path):
    spec = f"sqlite:///{tmp_path / 'users.db'}"
    with serve(model_dir, user_store=spec) as one, serve(model_dir, user_store=spec) as two:
        user = new_user()
        assert answer(two, "마", user) == answer(two, "마")
        learn(one, user, *KOREAN)
        assert words(two, "마", user)[0] == "마코토"  # the next keystroke on the other
        assert one.delete(f"/users/{user}").status_code == 204
        assert answer(two, "마", user) == answer(two, "마")
        assert two.get("/ready").json()["user_store"]["kind"] == "sqlite"


# --- two real servers and one Redis ------------------------------------------------------
@contextlib.contextmanager
def redis_server(port: int, log: Path) -> Iterator[subprocess.Popen]:
    """Debian's redis-server on 127.0.0.1:port, nothing saved to disk."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server, as .ci/run "
                    "does): the two-replica test needs it")
    with open(log, "ab") as out:
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--dir", str(log.parent)],
                                stdout=out, stderr=subprocess.STDOUT)

    def up() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            assert proc.poll() is None, log.read_text(errors="replace")
            return False
    try:
        wait_for(up, "redis-server to listen", timeout=30)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def post_words(server: Server, text: str, user: str) -> list[str]:
    r = httpx.post(server.url + "/complete", json={"text": text, "user": user}, timeout=10)
    assert r.status_code == 200, r.text
    return [c["text"] for c in r.json()["completions"]]


def test_two_servers_sharing_redis_see_each_others_learning(model_dir, tmp_path):
    port = free_port()
    env = {"AUTOCOMPLETE_USER_STORE": f"redis://127.0.0.1:{port}/0",
           "AUTOCOMPLETE_USER_STORE_RETRY_S": "0"}
    with redis_server(port, tmp_path / "redis.log") as redis:
        a = Server(model_dir, tmp_path / "a.log", **env)
        b = Server(model_dir, tmp_path / "b.log", **env)
        try:
            a.wait_ready()
            b.wait_ready()
            user = new_user()
            anonymous = post_words(b, "마", new_user())
            for text in KOREAN:
                r = httpx.post(a.url + "/learn", json={"user": user, "text": text}, timeout=10)
                assert r.status_code == 204, r.text
            assert post_words(b, "마", user)[0] == "마코토"  # the next keystroke, elsewhere
            assert post_words(a, "마", user)[0] == "마코토"
            assert httpx.delete(f"{b.url}/users/{user}", timeout=10).status_code == 204
            assert post_words(a, "마", user) == anonymous  # a dropped its copy
            r = httpx.post(a.url + "/learn", json={"user": user, "text": KOREAN[0]}, timeout=10)
            assert post_words(b, "마", user)[0] == "마코토"
            assert b.get("/ready").json()["user_store"] == {
                "kind": "redis", "status": "ok", "reason": None, "users_cached": 1}
            redis.terminate()  # the store goes away mid-run
            redis.wait(timeout=15)
            for server in (a, b):
                assert post_words(server, "마", user) == anonymous
                assert server.get("/ready").json()["user_store"]["status"] == "down"
            r = httpx.post(a.url + "/learn", json={"user": user, "text": "마코토"}, timeout=10)
            assert r.status_code == 503
        finally:
            a.stop()
            b.stop()
        for server in (a, b):  # what users wrote never reached the servers' logs
            assert "마코토 소령" not in server.output()
