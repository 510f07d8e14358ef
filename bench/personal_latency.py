"""What a user costs a keystroke, and what learning a sentence costs, against a running service.

    .venv/bin/python bench/personal_latency.py --url http://127.0.0.1:8000 \\
        --file ../shared/data/nsmc/test.txt --groups ../shared/data/nsmc/test_movies.tsv

Users are sampled as ../shared/bench/personal_eval.py samples them (movies with enough
reviews, random.Random(seed)); each is taught its first --history reviews (every POST /learn
timed), then its next --evaluate reviews are typed key by key as the screen shows them
(a half-typed syllable included), each screen asked twice in a row: once with the user and
once without, the first of the two alternating, so that the state cache and a busy moment
of the machine favour neither. Prints p50/p95/p99 of /complete with and without the user and
their ratio, and of /learn. One keep-alive connection, one request at a time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]

from models import hangul  # noqa: E402


class Client:
    def __init__(self, url: str, timeout: float):
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port or 80,
                                               timeout=timeout)

    def call(self, method: str, path: str, body: dict) -> tuple[int, float]:
        """Status and wall milliseconds of one request."""
        data = json.dumps(body, ensure_ascii=False).encode()
        t0 = time.perf_counter()
        self.conn.request(method, path, data, {"Content-Type": "application/json"})
        reply = self.conn.getresponse()
        reply.read()
        return reply.status, (time.perf_counter() - t0) * 1000


def users(file: str, groups: str, history: int, evaluate: int, count: int,
          seed: int) -> list[list[str]]:
    """personal_eval.py's users: each sampled movie's reviews, oldest first."""
    lines = Path(file).read_text(encoding="utf-8").split("\n")
    rows = [g.split("\t") for g in Path(groups).read_text(encoding="utf-8").split("\n") if g]
    by_movie: dict[str, list[tuple[int, str]]] = {}
    for line, (movie, review) in zip(lines, rows, strict=False):
        if line.strip():
            by_movie.setdefault(movie, []).append((int(review), line))
    movies = sorted(m for m, rs in by_movie.items() if len(rs) >= history + evaluate)
    chosen = random.Random(seed).sample(movies, min(count, len(movies)))
    return [[line for _, line in sorted(by_movie[m])][:history + evaluate] for m in chosen]


def figures(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return f"p50 {q[49]:6.2f}  p95 {q[94]:6.2f}  p99 {q[98]:6.2f} ms  ({len(ms)} requests)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--file", required=True)
    ap.add_argument("--groups", required=True)
    ap.add_argument("--users", type=int, default=40)
    ap.add_argument("--history", type=int, default=20)
    ap.add_argument("--evaluate", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()

    client, run = Client(args.url, args.timeout), uuid.uuid4().hex[:8]
    learn, mine, anonymous, errors, turn = [], [], [], 0, 0
    for n, reviews in enumerate(users(args.file, args.groups, args.history, args.evaluate,
                                      args.users, args.seed)):
        user = f"latency-{run}-{n}"
        for text in reviews[:args.history]:
            status, ms = client.call("POST", "/learn", {"user": user, "text": text})
            errors += status != 204
            learn.append(ms)
        for review in reviews[args.history:]:
            words = review.split()
            for i, word in enumerate(words):
                context = " ".join(words[:i]) + (" " if i else "")
                for screen in ["", *hangul.screens(word)[:-1]]:
                    body = {"text": context + screen, "k": 3}
                    pair = [(mine, body | {"user": user}), (anonymous, body)]
                    for out, payload in (pair if turn % 2 == 0 else pair[::-1]):
                        status, ms = client.call("POST", "/complete", payload)
                        errors += status != 200
                        out.append(ms)
                    turn += 1
        client.call("DELETE", f"/users/{user}", {})
    print(f"/complete with a user    {figures(mine)}")
    print(f"/complete without        {figures(anonymous)}")
    print(f"ratio of the medians     {statistics.median(mine) / statistics.median(anonymous):.3f}")
    print(f"/learn                   {figures(learn)}")
    print(f"errors                   {errors}")


if __name__ == "__main__":
    main()
