"""End to end: ``uvicorn app.main:app`` as a real process. A Korean sentence typed key by key
(the screen of a 2-beolsik keyboard after every jamo) and an English one letter by letter,
over one keep-alive connection; SIGHUP reloads a new version and refuses a broken one."""

from __future__ import annotations

import math
import re
import signal

import httpx

from models import hangul
from tests.app.helpers import copy_version, corrupt, family_file, point, run_server, wait_for

KOREAN = "나는 밥을 먹었다 ㅋㅋ 오늘 너무 힘들어"
ENGLISH = "I really liked the movie"


def check(reply: httpx.Response, text: str, k: int) -> list[str]:
    """The reply to one keystroke keeps the contract of shared/bench/autocomplete_eval.py."""
    assert reply.status_code == 200, reply.text
    assert reply.headers["server-timing"].startswith("model;dur=")
    body = reply.json()
    items = body["completions"]
    assert isinstance(items, list) and len(items) <= k
    for item in items:
        assert isinstance(item["text"], str) and item["text"]
        assert isinstance(item["log_prob"], float) and item["log_prob"] <= 0
        assert math.isclose(item["probability"], math.exp(item["log_prob"]), rel_tol=1e-9)
    assert body["model"] == "ngram" and body["took_ms"] >= 0
    cut = len(text) - len(text.rstrip())
    assert body["prefix"] == ("" if cut or not text else text.split()[-1])
    return [item["text"] for item in items]


def type_sentence(http: httpx.Client, sentence: str, keystrokes) -> int:
    """Type ``sentence`` word by word, each word through ``keystrokes(word)`` screens;
    returns how many of its words were offered at some keystroke."""
    words, offered = sentence.split(), 0
    for i, word in enumerate(words):
        context = " ".join(words[:i]) + (" " if i else "")
        seen = False
        for screen in ["", *keystrokes(word)]:
            text = context + screen
            seen |= word in check(http.post("/complete", json={"text": text, "k": 3}), text, 3)
        offered += seen
    return offered


def test_typing_korean_and_english_against_a_real_server(live_server):
    with httpx.Client(base_url=live_server.url, timeout=30) as http:  # one keep-alive connection
        assert http.get("/ready").json()["model"] == "ngram"
        offered = type_sentence(http, KOREAN, hangul.screens)
        assert offered >= 4  # 먹었다, 오늘, 너무, 힘들어 ... are in the sample corpus
        offered = type_sentence(http, ENGLISH, lambda w: [w[:j] for j in range(1, len(w) + 1)])
        assert offered >= 3
        r = http.get("/complete", params={"q": "나는 밥을 머", "k": 3})
        assert "먹었다" in check(r, "나는 밥을 머", 3) and "max-age" in r.headers["cache-control"]
        r = http.post("/probability", json={"text": KOREAN})
        assert r.status_code == 200 and r.json()["log_prob"] < 0
        assert http.get("/noop").status_code == 200
        metrics = http.get("/metrics").text
        assert re.search(r'autocomplete_model_answers_total\{endpoint="/complete",model="ngram"\}'
                         r" [1-9]", metrics)


def test_sighup_reloads_a_new_version_and_refuses_a_broken_one(model_dir, tmp_path):
    link = tmp_path / "live"
    point(link, copy_version(model_dir, tmp_path / "v1"))
    with run_server(link, tmp_path / "uvicorn.log") as server:
        assert server.get("/ready").json()["version"] == "v1"
        point(link, copy_version(link, tmp_path / "v2"))
        server.signal(signal.SIGHUP)
        wait_for(lambda: server.get("/ready").json()["version"] == "v2", "the SIGHUP reload")

        bad = copy_version(link, tmp_path / "v3")
        corrupt(family_file(bad, "ngram", ".npy"))
        point(link, bad)
        server.signal(signal.SIGHUP)
        wait_for(lambda: 'autocomplete_reloads_total{result="refused"} 1.0'
                 in server.get("/metrics").text, "the refused reload")
        assert server.get("/ready").json()["version"] == "v2"
        r = httpx.post(server.url + "/complete", json={"text": "나는 밥을 머"}, timeout=30)
        assert "먹었다" in check(r, "나는 밥을 머", 5)
        assert server.proc.poll() is None
        assert "reload refused" in server.output()
