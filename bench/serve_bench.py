"""Latency and throughput of the HTTP service as people type into it.

    .venv/bin/python bench/serve_bench.py --model-dir models-data/default --seconds 10

Starts ``uvicorn app.main:app`` as a real process on a free port, then types NSMC test
sentences (``../shared/data/nsmc/test.txt``) key by key — Hangul jamo by jamo, the screen
of a 2-beolsik keyboard after every key, as ``models.hangul.screens`` gives it — sending
``POST /complete`` (k=3) before every key, first as one typist, then as ``--typists``
concurrent typists (asyncio, each its own keep-alive connection). Each load is measured
against ``GET /noop`` of the same server in the same run, so the table separates the
model's cost from HTTP's. Every phase lasts ``--seconds``; the client shares the machine
with the server, which the figures include.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]

from models import hangul  # noqa: E402
from models.evaluation import typed_before  # noqa: E402

NSMC_TEST = ROOT.parent / "shared" / "data" / "nsmc" / "test.txt"
K = 3


def keystroke_texts(sentence: str) -> list[str]:
    """What the server is asked before each key of ``sentence``: the context, then the
    context with every screen of the word being typed."""
    words, texts = sentence.split(), []
    for i, word in enumerate(words):
        context = typed_before(words, i)
        texts += [context, *(context + s for s in hangul.screens(word)[:-1])]
    return texts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """The server under test, as a subprocess (its log in a file beside the JSON, or /tmp)."""

    def __init__(self, model_dir: Path, log: Path, env: dict[str, str], workers: int = 1):
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log, self.workers = log, workers
        port = self.url.rsplit(":", 1)[1]
        environ = {**os.environ, **env, "AUTOCOMPLETE_MODEL_DIR": str(model_dir)}
        self.started = time.perf_counter()
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
                 "--port", port, "--log-level", "warning", "--no-access-log",
                 "--workers", str(workers)],
                cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT)

    def ready(self, timeout: float) -> dict[str, Any]:
        """Wait for /ready 200 then for a recurrent model still loading; the cold-start
        figures."""
        figures: dict[str, Any] = {}
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"the server exited ({self.proc.returncode}); its log:\n"
                         + self.log.read_text(errors="replace")[-2000:])
            try:
                r = httpx.get(self.url + "/ready", timeout=2)
            except httpx.HTTPError:
                r = None
            if r is not None and r.status_code == 200:
                body = r.json()
                figures.setdefault("first_answer_s", time.perf_counter() - self.started)
                figures.setdefault("first_model", body["model"])
                # with several workers, any of them answers: ask until each likely has
                if not body.get("loading") and self._all_ready():
                    figures.update(ready_s=time.perf_counter() - self.started,
                                   model=body["model"], state=body["status"],
                                   reason=body.get("reason"))
                    return figures
            time.sleep(0.05)
        self.stop()
        sys.exit(f"the server was not ready within {timeout:.0f} s; its log:\n"
                 + self.log.read_text(errors="replace")[-2000:])

    def _all_ready(self) -> bool:
        """Every worker ready, as far as 8 more answers per worker tell (a connection
        each, so the operating system spreads them)."""
        if self.workers == 1:
            return True
        for _ in range(8 * self.workers):
            r = httpx.get(self.url + "/ready", timeout=2)
            if r.status_code != 200 or r.json().get("loading"):
                return False
        return True

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def typist(url: str, endpoint: str, texts: list[str], start: int, stop_at: float,
                 out: dict[str, Any]) -> None:
    """One person typing, one keep-alive connection, one request after another."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        i = start
        while time.perf_counter() < stop_at:
            text = texts[i % len(texts)]
            i += 1
            t0 = time.perf_counter()
            try:
                if endpoint == "/noop":
                    r = await http.get("/noop")
                else:
                    r = await http.post("/complete", json={"text": text, "k": K})
            except httpx.HTTPError as e:
                out["errors"][type(e).__name__] += 1
                continue
            ms = (time.perf_counter() - t0) * 1000
            if r.status_code != 200:
                out["errors"][f"HTTP {r.status_code}"] += 1
                continue
            out["latencies"].append(ms)
            if endpoint != "/noop":
                body = r.json()
                out["models"][body["model"]] += 1
                out["model_ms"].append(body["took_ms"])


def summarize(ms: list[float]) -> dict[str, float]:
    if len(ms) < 2:
        return {"p50": ms[0], "p95": ms[0], "p99": ms[0], "max": ms[0]} if ms else {}
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "p99": q[98], "max": max(ms)}


async def phase(url: str, endpoint: str, typists: int, texts: list[str],
                seconds: float) -> dict[str, Any]:
    """``typists`` people on ``endpoint`` for ``seconds``."""
    out: dict[str, Any] = {"latencies": [], "model_ms": [], "models": Counter(),
                           "errors": Counter()}
    t0 = time.perf_counter()
    stop_at = t0 + seconds
    step = max(len(texts) // typists, 1)  # each typist starts on another sentence
    await asyncio.gather(*(typist(url, endpoint, texts, j * step, stop_at, out)
                           for j in range(typists)))
    wall = time.perf_counter() - t0
    n = len(out["latencies"])
    return {"endpoint": endpoint, "typists": typists, "requests": n,
            "req_per_s": n / wall, "latency_ms": summarize(out["latencies"]),
            "model_ms_p50": statistics.median(out["model_ms"]) if out["model_ms"] else None,
            "answered_by": dict(out["models"]), "errors": dict(out["errors"])}


def print_table(result: dict[str, Any]) -> None:
    s = result["server"]
    print(f"server  {result['model_dir']}  model {s['model']} ({s['state']})  "
          f"first answer {s['first_answer_s']:.2f} s ({s['first_model']}), "
          f"ready {s['ready_s']:.2f} s" + (f"  reason: {s['reason']}" if s.get("reason") else ""))
    print(f"typing  {result['sentences']} NSMC test sentences, {result['keystrokes']} keystrokes "
          f"(Hangul by jamo), k={K}, {result['seconds']:.0f} s a phase, "
          f"{os.cpu_count()} CPUs shared by client and server"
          + (f", {result['workers']} server workers" if result.get("workers", 1) > 1 else ""))
    head = (f"{'typists':>7}  {'endpoint':<10} {'requests':>8} {'req/s':>8} {'p50 ms':>8} "
            f"{'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'model ms':>8}  answered by / errors")
    print(head)
    print("-" * len(head))
    for p in result["phases"]:
        lat = p["latency_ms"] or {"p50": 0, "p95": 0, "p99": 0, "max": 0}
        model = "" if p["model_ms_p50"] is None else f"{p['model_ms_p50']:.2f}"
        who = " ".join(f"{k} {v}" for k, v in sorted(p["answered_by"].items()))
        errs = " ".join(f"{k}: {v}" for k, v in p["errors"].items())
        print(f"{p['typists']:>7}  {p['endpoint']:<10} {p['requests']:>8} {p['req_per_s']:>8.0f} "
              f"{lat['p50']:>8.2f} {lat['p95']:>8.2f} {lat['p99']:>8.2f} {lat['max']:>8.2f} "
              f"{model:>8}  {who}{'  errors ' + errs if errs else ''}")
    noop = {p["typists"]: p for p in result["phases"] if p["endpoint"] == "/noop"}
    for p in result["phases"]:  # the targets: against /noop of the same run
        base = noop.get(p["typists"])
        if p["endpoint"] == "/noop" or base is None or not p["latency_ms"]:
            continue
        fallback = sum(v for k, v in p["answered_by"].items() if k == "ngram")
        share = p["req_per_s"] / base["req_per_s"]
        lat, base_lat = p["latency_ms"], base["latency_ms"]
        print(f"{p['typists']:>7}  /complete against /noop: {share:.0%} of its requests/s, "
              f"+{lat['p50'] - base_lat['p50']:.1f} ms at p50, "
              f"+{lat['p99'] - base_lat['p99']:.1f} ms at p99; "
              f"{fallback / max(p['requests'], 1):.1%} answered by the n-gram fallback")


def add_service_arguments(ap: argparse.ArgumentParser, sentences: int, example: str) -> None:
    """The arguments this benchmark and ``bench/load.py`` share: the model served, the
    sentences typed, the service's settings and where the figures go."""
    ap.add_argument("--model-dir", type=Path, default=ROOT / "models-data" / "default")
    ap.add_argument("--file", type=Path, default=NSMC_TEST, help="sentences, one a line")
    ap.add_argument("--sentences", type=int, default=sentences)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ready-timeout", type=float, default=300.0)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help=f"a service setting, e.g. --set {example} (AUTOCOMPLETE_ prefix)")
    ap.add_argument("--json", type=Path, help="also write every figure to this file")


def service_inputs(args: argparse.Namespace,
                   own_error: str | None = None) -> tuple[dict[str, str], list[str]]:
    """The shared arguments checked, then the caller's ``own_error`` (exits with the first
    message that applies): the service's environment from ``--set``, and the sentences
    sampled from ``--file``."""
    if not args.file.is_file():
        sys.exit(f"{args.file} is absent: the NSMC test split (../shared/data/nsmc/test.txt "
                 "beside the repository) is needed, or give --file")
    if not (args.model_dir / "manifest.json").is_file():
        sys.exit(f"{args.model_dir}: no model directory (make model, or scripts/train.py)")
    if own_error:
        sys.exit(own_error)
    env = {}
    for item in args.set:
        name, _, value = item.partition("=")
        env["AUTOCOMPLETE_" + name.upper()] = value
    lines = [x for x in args.file.read_text(encoding="utf-8").split("\n") if x.strip()]
    return env, random.Random(args.seed).sample(lines, min(args.sentences, len(lines)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_service_arguments(ap, sentences=300, example="deadline_ms=200")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    ap.add_argument("--typists", type=int, default=32, help="concurrent typists (with 1)")
    ap.add_argument("--workers", type=int, default=1,
                    help="uvicorn worker processes, each with its own models")
    args = ap.parse_args(argv)
    env, sample = service_inputs(args, None if 1 <= args.seconds <= 600
                                 else "--seconds must be between 1 and 600")
    texts = [t for s in sample for t in keystroke_texts(s)]

    log = (args.json.with_suffix(".server.log") if args.json
           else Path(f"/tmp/serve_bench-{os.getpid()}.log"))
    service = Service(args.model_dir.absolute(), log, env, args.workers)
    try:
        server = service.ready(args.ready_timeout)
        httpx.post(service.url + "/complete", json={"text": texts[0], "k": K}, timeout=30)
        phases = []
        for typists in sorted({1, args.typists}):
            for endpoint in ("/noop", "/complete"):
                print(f"... {typists} typist(s) on {endpoint} for {args.seconds:.0f} s",
                      file=sys.stderr, flush=True)
                phases.append(asyncio.run(phase(service.url, endpoint, typists, texts,
                                                args.seconds)))
    finally:
        service.stop()
    result = {"model_dir": str(args.model_dir), "file": str(args.file), "seed": args.seed,
              "sentences": len(sample), "keystrokes": len(texts), "seconds": args.seconds,
              "settings": env, "workers": args.workers, "server": server, "phases": phases}
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
