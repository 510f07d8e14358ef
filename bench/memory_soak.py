"""Memory under hostile random traffic: does the server's RSS settle, and where?

    .venv/bin/python bench/memory_soak.py --model-dir models-data/default --seconds 600

Starts ``uvicorn app.main:app`` on a free port (bench/serve_bench.py's ``Service``) and sends,
from ``--clients`` concurrent clients for ``--seconds``, random requests that each try to
leave something behind: ``POST /complete`` with k=20 and max_words=3 on random contexts (NSMC test
sentences cut at random, ``--file``) followed by a partial word that is, by turns, a real
half-typed word, a long random word (up to ``--word-chars`` characters of Hangul, jamo,
Latin or emoji, each one new) or nothing (the next word); and one request in ten a
``POST /probability`` of a random text or next, emoji floods up to the limits included.
Every ``--every`` seconds it prints the server's resident memory (VmRSS from /proc, and
``process_resident_memory_bytes`` from /metrics, which should agree), its peak (VmHWM),
the requests answered and their statuses; at the end, the RSS after warm-up (the first
``--warmup`` of the run) against the last, and the growth per minute between.

The server keeps freed memory for the next keystroke by design (glibc thresholds raised,
AUTOCOMPLETE_KEEP_FREED_MEMORY), so RSS reaches its peak and stays: flat is the goal, not
falling. The client shares the machine with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import memory  # noqa: E402
from bench.serve_bench import Service, add_service_arguments, service_inputs  # noqa: E402

HANGUL = [chr(c) for c in range(0xAC00, 0xD7A4)]
JAMO = list("ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎㅏㅐㅑㅒㅓㅔㅕㅖㅗㅛㅜㅠㅡㅣ")
LATIN = list("abcdefghijklmnopqrstuvwxyz")
EMOJI = [chr(c) for c in range(0x1F600, 0x1F650)]


class Traffic:
    """Random requests that each try to leave something behind."""

    def __init__(self, sentences: list[str], word_chars: int, seed: int):
        self.sentences, self.word_chars = sentences, word_chars
        self.rng = random.Random(seed)

    def context(self) -> str:
        words = self.rng.choice(self.sentences).split()
        return " ".join(words[: self.rng.randint(0, len(words))])

    def long_word(self) -> str:
        alphabet = self.rng.choice([HANGUL, JAMO, LATIN, EMOJI])
        n = self.rng.randint(50, self.word_chars)
        if alphabet is HANGUL:
            n = min(n, 18000)  # 3 bytes each: within the 64 KiB body
        if alphabet is EMOJI:
            n = min(n, 13000)
        return "".join(self.rng.choices(alphabet, k=n))

    def request(self) -> tuple[str, dict[str, Any]]:
        """(path, JSON body) of the next request."""
        roll = self.rng.random()
        if roll < 0.1:
            text = self.rng.choice([self.context(), "😀" * self.rng.randint(1, 10000),
                                    self.long_word()[:10000]])
            nxt = self.rng.choice([None, self.rng.choice(self.sentences).split()[0],
                                   "😀" * self.rng.randint(1, 200)])
            return "/probability", {"text": text, **({"next": nxt} if nxt else {})}
        context = self.context()
        if roll < 0.45:
            word = self.long_word()
        elif roll < 0.8:
            typed = self.rng.choice(self.sentences).split() or ["영화"]
            word = self.rng.choice(typed)[: self.rng.randint(1, 4)]
        else:
            word = ""
        text = f"{context} {word}" if context else word
        return "/complete", {"text": text, "k": 20, "max_words": 3}


async def client(url: str, traffic: Traffic, stop_at: float, out: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        while time.perf_counter() < stop_at:
            path, body = traffic.request()
            try:
                r = await http.post(path, json=body)
                out["status"][f"{path} {r.status_code}"] += 1
            except httpx.HTTPError as e:
                out["status"][f"{path} {type(e).__name__}"] += 1


def metric_rss(url: str) -> float | None:
    """process_resident_memory_bytes from /metrics, in MiB."""
    try:
        text = httpx.get(url + "/metrics", timeout=30).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith("process_resident_memory_bytes "):
            return float(line.split()[1]) / 2**20
    return None


async def soak(service: Service, traffic: Traffic, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"status": Counter(), "samples": []}
    t0 = time.perf_counter()
    stop_at = t0 + args.seconds
    tasks = [asyncio.create_task(client(service.url, traffic, stop_at, out))
             for _ in range(args.clients)]
    print(f"{'s':>6} {'requests':>9} {'RSS MiB':>8} {'/metrics':>9} {'peak MiB':>9}  statuses",
          flush=True)
    while time.perf_counter() < stop_at:
        await asyncio.sleep(min(args.every, max(stop_at - time.perf_counter(), 0.1)))
        mem = memory(service.proc.pid)
        from_metrics = await asyncio.to_thread(metric_rss, service.url)
        sample = {"s": round(time.perf_counter() - t0, 1),
                  "requests": sum(out["status"].values()), "rss_mib": mem.get("VmRSS"),
                  "metrics_rss_mib": from_metrics, "peak_mib": mem.get("VmHWM")}
        out["samples"].append(sample)
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(out["status"].items()))
        print(f"{sample['s']:>6.0f} {sample['requests']:>9} {sample['rss_mib'] or 0:>8.1f} "
              f"{from_metrics or 0:>9.1f} {sample['peak_mib'] or 0:>9.1f}  {shown}", flush=True)
    await asyncio.gather(*tasks)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_service_arguments(ap, sentences=2000, example="state_cache_bytes=67108864")
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--warmup", type=float, default=0.25,
                    help="share of the run before the RSS counted as settled")
    ap.add_argument("--word-chars", type=int, default=44000, help="longest random word")
    args = ap.parse_args(argv)
    env, sentences = service_inputs(args, "--clients must be at least 1"
                                    if args.clients < 1 else None)
    log = args.json.with_suffix(".log") if args.json else Path("/tmp/memory_soak.log")
    service = Service(args.model_dir, log, env)
    try:
        ready = service.ready(args.ready_timeout)
        print(f"serving {ready['model']} from {args.model_dir}; RSS "
              f"{memory(service.proc.pid).get('VmRSS', 0):.1f} MiB at start", flush=True)
        out = asyncio.run(soak(service, Traffic(sentences, args.word_chars, args.seed), args))
    finally:
        service.stop()
    samples = [s for s in out["samples"] if s["rss_mib"]]
    settled = [s for s in samples if s["s"] >= args.warmup * args.seconds]
    summary: dict[str, Any] = {"model": ready["model"], "seconds": args.seconds,
                               "clients": args.clients, "status": dict(out["status"])}
    if len(settled) >= 2:
        first, last = settled[0], settled[-1]
        minutes = (last["s"] - first["s"]) / 60
        summary.update(rss_after_warmup_mib=first["rss_mib"], rss_last_mib=last["rss_mib"],
                       peak_mib=last["peak_mib"],
                       growth_mib_per_min=(last["rss_mib"] - first["rss_mib"]) / minutes)
        print(f"RSS after warm-up ({first['s']:.0f} s) {first['rss_mib']:.1f} MiB, at the end "
              f"{last['rss_mib']:.1f} MiB: {summary['growth_mib_per_min']:+.2f} MiB a minute; "
              f"peak {last['peak_mib']:.1f} MiB; {sum(out['status'].values())} requests")
    if args.json:
        args.json.write_text(json.dumps(summary | {"samples": out["samples"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
