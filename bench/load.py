"""Open-loop load: how many keystrokes a second the service holds, and how it fails beyond.

    .venv/bin/python bench/load.py --model-dir models-data/default --rates 200 400 600 --seconds 60

Starts ``uvicorn app.main:app`` as a real process on a free port (bench/serve_bench.py's
``Service``), then sends ``POST /complete`` (k=3) at a constant arrival rate for ``--seconds``
per rate, stepping up through ``--rates``. Open loop: request i leaves at t0 + i/rate whether
or not earlier ones were answered, and its latency counts from that scheduled time (a client
that falls behind shows up as lag, not as shorter latencies). The traffic is people typing:
``--typists`` people each type NSMC test sentences (``../shared/data/nsmc/test.txt``) key by
key, Hangul jamo by jamo (``models.hangul.screens``), the arrivals taking turns among them.

Per rate: requests sent and answered, the achieved rate (answers a second), latency
p50/p95/p99/max of the answers, errors by kind (``503``: the service's fast refusal beyond
AUTOCOMPLETE_MAX_CONCURRENCY; ``timeout``: no answer within ``--timeout``; ``connect``;
``HTTP nnn``; others), how fast the 503s came, the client's lag behind its schedule, who
answered (fallbacks to the n-gram included), the server's resident memory (VmRSS, and
VmHWM, its peak) from /proc/PID/status before and after, and the CPU each side used (the
load generator's own share of a core, the server's from /proc/PID/stat). A rate is held
when every request was answered 200 and the client kept its schedule; it meets the serving
target when, besides, p99 is at most 100 ms and at most 1% were answered by the fallback.
Stepping stops after the first rate that is not held (``--all`` runs every rate). The
client shares the machine with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serve_bench import (  # noqa: E402
    Service,
    add_service_arguments,
    keystroke_texts,
    service_inputs,
    summarize,
)

K = 3
LAG_OK_MS = 100.0  # a client later than this (p99) did not keep the rate it was asked for
# the bar for a rate the service serves well: besides held, p99 and fallbacks
TARGET_P99_MS, TARGET_FALLBACKS = 100.0, 0.01


def cpu_seconds(pid: int | None = None) -> float:
    """CPU seconds (user + system) used so far by ``pid`` (from /proc), or by this process
    (the load generator itself) when ``pid`` is None."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of ``pid`` in MiB, from /proc/PID/status."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


class Typists:
    """``n`` people, each typing sentences keystroke by keystroke; ``next()`` is the text of
    the next person's next key, the people taking turns."""

    def __init__(self, sentences: list[list[str]], n: int):
        self.sentences, self.n = sentences, n
        self.where = [[i % len(sentences), 0] for i in range(n)]
        self.turn = 0

    def next(self) -> str:
        place = self.where[self.turn]
        self.turn = (self.turn + 1) % self.n
        keys = self.sentences[place[0]]
        text = keys[place[1]]
        place[1] += 1
        if place[1] == len(keys):  # sentence typed: on to another one
            place[0], place[1] = (place[0] + self.n) % len(self.sentences), 0
        return text


class Connections:
    """Keep-alive HTTP/1.1 connections to one server, at most ``size`` of them: a client
    lean enough (asyncio streams, no HTTP library) that the server, not the client, is what
    a run measures on a machine they share."""

    def __init__(self, url: str, size: int):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.size = parts.hostname, parts.port, size
        self.idle: asyncio.LifoQueue = asyncio.LifoQueue()  # the most recently used first
        self.opened = 0

    async def _get(self, fresh: bool = False) -> tuple[asyncio.StreamReader,
                                                      asyncio.StreamWriter, bool]:
        """A connection and whether it was used before."""
        if fresh or (self.idle.empty() and self.opened < self.size):
            self.opened += 1
            try:
                return (*await asyncio.open_connection(self.host, self.port), False)
            except BaseException:
                self.opened -= 1
                raise
        return (*await self.idle.get(), True)

    def _drop(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.opened -= 1
        conn[1].close()

    async def post(self, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, str],
                                                                     bytes]:
        """Status, headers (lower-case names) and body of one POST."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json"
                f"\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        reader, writer, reused = await self._get()
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = (reader, writer)
        try:
            writer.write(head + body)
            try:
                block = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionResetError) as e:
                if not reused or getattr(e, "partial", b""):
                    raise
                # the server closed this idle keep-alive connection: once more on a new one
                self._drop(conn)
                conn = None
                reader, writer, _ = await self._get(fresh=True)
                conn = (reader, writer)
                writer.write(head + body)
                block = await reader.readuntil(b"\r\n\r\n")
            lines = block.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:] if line)}
            data = await reader.readexactly(int(headers.get("content-length", "0")))
        except BaseException:
            if conn is not None:
                self._drop(conn)  # in an unknown state (a timeout, say): never reused
            raise
        if headers.get("connection", "").lower() == "close":
            self._drop(conn)
        else:
            self.idle.put_nowait(conn)
        return status, headers, data

    def close(self) -> None:
        while not self.idle.empty():
            self._drop(self.idle.get_nowait())


async def one(pool: Connections, text: str, due: float, timeout: float,
              out: dict[str, Any]) -> None:
    """One keystroke's request; the latency counts from ``due``, its scheduled time."""
    out["lag_ms"].append((time.perf_counter() - due) * 1000)
    try:
        status, headers, body = await asyncio.wait_for(
            pool.post("/complete", {"text": text, "k": K}), timeout)
    except TimeoutError:
        out["errors"]["timeout"] += 1
        return
    except (ConnectionError, asyncio.IncompleteReadError, OSError) as e:
        out["errors"][type(e).__name__] += 1
        return
    ms = (time.perf_counter() - due) * 1000
    if status == 503:
        out["errors"]["503"] += 1
        out["refused_ms"].append(ms)
    elif status != 200:
        out["errors"][f"HTTP {status}"] += 1
    else:
        out["ok_ms"].append(ms)
        reply = json.loads(body)
        out["models"][reply["model"]] += 1
        out["model_ms"].append(reply["took_ms"])
        timing = headers.get("server-timing", "")
        if "fallback" in timing:
            out["fallbacks"][timing.rsplit('desc="', 1)[-1].rstrip('"')] += 1


async def at_rate(url: str, typists: Typists, rate: float, seconds: float, timeout: float,
                  connections: int) -> dict[str, Any]:
    """``rate`` requests a second for ``seconds``, scheduled by the clock."""
    out: dict[str, Any] = {"ok_ms": [], "refused_ms": [], "lag_ms": [], "model_ms": [],
                           "errors": Counter(), "models": Counter(), "fallbacks": Counter()}
    pool = Connections(url, connections)
    n = int(rate * seconds)
    tasks = []
    t0 = time.perf_counter()
    for i in range(n):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(pool, typists.next(), due, timeout, out)))
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - t0
    pool.close()
    ok = len(out["ok_ms"])
    errors = sum(out["errors"].values())
    lag = summarize(out["lag_ms"])
    return {"rate": rate, "seconds": seconds, "sent": n, "answered": ok,
            "errors": dict(out["errors"]), "achieved_per_s": ok / seconds, "wall_s": wall,
            "latency_ms": summarize(out["ok_ms"]), "model_ms": summarize(out["model_ms"]),
            "refused_503_ms": summarize(out["refused_ms"]), "client_lag_ms": lag,
            "answered_by": dict(out["models"]), "fallbacks": dict(out["fallbacks"]),
            "connections": pool.opened,
            "held": errors == 0 and ok == n and lag.get("p99", 0) < LAG_OK_MS,
            "target": (errors == 0 and ok == n and lag.get("p99", 0) < LAG_OK_MS
                       and summarize(out["ok_ms"]).get("p99", 1e9) <= TARGET_P99_MS
                       and sum(out["fallbacks"].values()) <= TARGET_FALLBACKS * n)}


def fmt(figures: dict[str, float], key: str) -> str:
    return f"{figures[key]:.1f}" if key in figures else "-"


def print_table(result: dict[str, Any]) -> None:
    s = result["server"]
    print(f"server  {result['model_dir']}  model {s['model']} ({s['state']}), settings "
          f"{result['settings'] or 'defaults'}; {result['typists']} typists, "
          f"{result['sentences']} NSMC test sentences, k={K}, timeout {result['timeout']} s")
    head = (f"{'rate/s':>7} {'sent':>7} {'answered':>8} {'ok/s':>7} {'p50':>7} {'p95':>7} "
            f"{'p99':>7} {'max':>7}  {'503':>6} {'timeout':>7} {'other':>5} {'503 p99':>7} "
            f"{'lag p99':>7} {'model p99':>9} {'RSS MB':>13}  held")
    print(head + "   (latencies in ms)")
    print("-" * len(head))
    for p in result["phases"]:
        e = p["errors"]
        other = sum(v for k, v in e.items() if k not in ("503", "timeout"))
        lat, rss = p["latency_ms"], f"{p['rss_before_mb']:.0f}->{p['rss_after_mb']:.0f}"
        print(f"{p['rate']:>7.0f} {p['sent']:>7} {p['answered']:>8} {p['achieved_per_s']:>7.1f} "
              f"{fmt(lat, 'p50'):>7} {fmt(lat, 'p95'):>7} {fmt(lat, 'p99'):>7} "
              f"{fmt(lat, 'max'):>7}  {e.get('503', 0):>6} {e.get('timeout', 0):>7} "
              f"{other:>5} {fmt(p['refused_503_ms'], 'p99'):>7} "
              f"{fmt(p['client_lag_ms'], 'p99'):>7} {fmt(p['model_ms'], 'p99'):>9} {rss:>13}  "
              f"{'yes' if p['held'] else 'NO'}"
              + (f"  CPU: client {p['client_cpu']:.0%}, server {p['server_cpu']:.0%}"
                 if "client_cpu" in p else "")
              + (f"  answered by {p['answered_by']}" if p["answered_by"] else "")
              + (f" fallbacks {p['fallbacks']}" if p["fallbacks"] else "")
              + (f" errors {e}" if other else ""))
    held = [p["rate"] for p in result["phases"] if p["held"]]
    m = result["memory_mb"]
    print(f"highest rate held: {max(held):.0f}/s" if held else "no rate was held")
    met = [p["rate"] for p in result["phases"] if p.get("target")]
    print(f"highest rate with 0 errors, p99 <= {TARGET_P99_MS:.0f} ms and <= "
          f"{TARGET_FALLBACKS:.0%} fallbacks: " + (f"{max(met):.0f}/s" if met else "none"))
    print(f"server RSS {m['start'].get('VmRSS', 0):.0f} MB after start, "
          f"{m['end'].get('VmRSS', 0):.0f} MB at the end (peak {m['end'].get('VmHWM', 0):.0f} MB)"
          f"; ready at the end: {result['ready_at_end']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_service_arguments(ap, sentences=500, example="max_concurrency=32")
    ap.add_argument("--rates", type=float, nargs="+", default=[200, 400, 600, 800, 1000],
                    help="arrival rates to step through, requests a second")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each rate")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds at the first rate, "
                                                              "not counted")
    ap.add_argument("--typists", type=int, default=200, help="people typing at once")
    ap.add_argument("--timeout", type=float, default=2.0, help="client timeout, seconds")
    ap.add_argument("--connections", type=int, default=1024, help="client connection pool")
    ap.add_argument("--all", action="store_true", help="go on after a rate is not held")
    args = ap.parse_args(argv)
    env, sample = service_inputs(
        args, None if 1 <= args.seconds <= 600 and all(r > 0 for r in args.rates)
        else "--seconds must be between 1 and 600 and every rate positive")
    typists = Typists([keystroke_texts(s) for s in sample], args.typists)

    log = (args.json.with_suffix(".server.log") if args.json
           else Path(f"/tmp/load-{time.strftime('%Y%m%dT%H%M%S')}.server.log"))
    service = Service(args.model_dir.absolute(), log, env)
    phases: list[dict[str, Any]] = []
    try:
        server = service.ready(args.ready_timeout)
        pid = service.proc.pid
        start_memory = memory(pid)
        print(f"... warm-up, {args.warmup:.0f} s at {args.rates[0]:.0f}/s", file=sys.stderr)
        asyncio.run(at_rate(service.url, typists, args.rates[0], args.warmup, args.timeout,
                            args.connections))
        for rate in args.rates:
            before = memory(pid)
            print(f"... {rate:.0f} requests/s for {args.seconds:.0f} s", file=sys.stderr,
                  flush=True)
            cpu0, server0 = cpu_seconds(), cpu_seconds(pid)
            phase = asyncio.run(at_rate(service.url, typists, rate, args.seconds, args.timeout,
                                        args.connections))
            after = memory(pid)
            phase.update(rss_before_mb=before.get("VmRSS", 0), rss_after_mb=after.get("VmRSS", 0),
                         rss_peak_mb=after.get("VmHWM", 0),
                         client_cpu=(cpu_seconds() - cpu0) / phase["wall_s"],
                         server_cpu=(cpu_seconds(pid) - server0) / phase["wall_s"])
            phases.append(phase)
            if not phase["held"] and not args.all:
                break
            time.sleep(1)  # let what is left in flight drain
        end_memory = memory(pid)
        r = httpx.get(service.url + "/ready", timeout=5)
        ready_at_end = f"{r.status_code} {r.json().get('status')}"
    finally:
        service.stop()
    result = {"model_dir": str(args.model_dir), "file": str(args.file), "seed": args.seed,
              "sentences": len(sample), "typists": args.typists, "timeout": args.timeout,
              "settings": env, "server": server, "phases": phases,
              "memory_mb": {"start": start_memory, "end": end_memory},
              "ready_at_end": ready_at_end, "server_log": str(log)}
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
