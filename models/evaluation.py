"""Offline evaluation with the definitions of ``shared/bench/autocomplete_eval.py``,
calling the completion engine directly instead of over HTTP.

next-word  at every word position, the 3 best next words for the words before it;
prefix     the same with the first character of the word typed (words of 1 char skipped);
KSR        keystroke savings with 3 suggestions, typing character by character;
KSR keys   the same in keyboard keys: Hangul jamo by jamo on 2-beolsik, the
           engine seeing each half-typed screen;
BPC        −log2 P of each sentence as a whole (end included) over its characters + 1
           (models/bpc.py); ``tune_weight`` picks the interpolation weight by it.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.bpc import nats_to_bpc, sentence_chars, sentence_ids
from models.completion import CompletionEngine
from models.hangul import screens
from models.lm import LanguageModel
from models.mixture import interpolate
from models.tokenizer import Tokenizer

K = 3  # suggestions per request, as in the shared benchmark

Suggest = Callable[[str], list[str]]


def typed_before(words: list[str], i: int) -> str:
    """The text on screen before word ``i`` is typed: the words before it and a space."""
    return " ".join(words[:i]) + (" " if i else "")


def sample_sentences(lines: list[str], count: int, seed: int = 0) -> list[list[str]]:
    """The shared benchmark's sample: ``random.Random(seed).sample`` of the non-blank lines,
    split into words."""
    lines = [line for line in lines if line.strip()]
    return [line.split() for line in random.Random(seed).sample(lines, min(count, len(lines)))]


@dataclass
class Hits:
    """hit@1 and hit@3 counters."""

    n: int = 0
    top1: int = 0
    top3: int = 0

    def add(self, target: str, offered: list[str]) -> None:
        """Count one position."""
        self.n += 1
        self.top1 += offered[:1] == [target]
        self.top3 += target in offered[:K]

    def figures(self) -> dict[str, float]:
        """Rates over the positions counted."""
        return {"positions": self.n, "hit@1": self.top1 / max(self.n, 1),
                "hit@3": self.top3 / max(self.n, 1)}


@dataclass
class Timer:
    """Wall time of every suggestion request, in ms."""

    ms: list[float] = field(default_factory=list)

    def wrap(self, suggest: Suggest) -> Suggest:
        """``suggest``, timed."""
        def timed(text: str) -> list[str]:
            t0 = time.perf_counter()
            out = suggest(text)
            self.ms.append((time.perf_counter() - t0) * 1000)
            return out
        return timed

    def figures(self) -> dict[str, float]:
        """p50, p95, p99 and max of the times."""
        if not self.ms:
            return {"count": 0}
        s = sorted(self.ms)
        q = lambda p: s[min(len(s) - 1, int(p * (len(s) - 1) + 0.5))]  # noqa: E731
        return {"count": len(s), "p50": q(0.5), "p95": q(0.95), "p99": q(0.99), "max": s[-1]}


def ksr_chars(suggest: Suggest, words: list[str]) -> int:
    """Keystrokes to enter ``" ".join(words)`` with 3 suggestions before each character."""
    keys = 0
    for i, word in enumerate(words):
        context = typed_before(words, i)
        for typed in range(len(word)):
            keys += 1  # accept the suggestion, or type the next character
            if word in suggest(context + word[:typed]):
                break
        else:
            keys += i < len(words) - 1  # the space typed by hand
    return keys


def ksr_keys(suggest: Suggest, words: list[str]) -> tuple[int, int]:
    """(keys used, keys without suggestions), Hangul typed jamo by jamo."""
    used = total = 0
    for i, word in enumerate(words):
        context = typed_before(words, i)
        shown = ["", *screens(word)[:-1]]  # the screen before each key
        space = i < len(words) - 1
        total += len(shown) + space
        for screen in shown:
            used += 1
            if word in suggest(context + screen):
                break
        else:
            used += space
    return used, total


def bits_per_char(lm: LanguageModel, tok: Tokenizer, lines: list[str]) -> float:
    """Total −log2 P of each line as a whole sentence (end included), over its characters + 1."""
    nats = -sum(float(lp.sum()) for lp in lm.token_logprobs_batch(sentence_ids(tok, lines)))
    return nats_to_bpc(nats, sentence_chars(lines))


def tune_weight(neural: LanguageModel, ngram: LanguageModel, tok: Tokenizer,
                lines: list[str]) -> tuple[float, dict[str, float]]:
    """The λ that gives the lowest bits per character on ``lines``, and the BPC of the
    neural model, the n-gram and the mixture there."""
    seqs = sentence_ids(tok, lines)
    neural_lp = np.concatenate(neural.token_logprobs_batch(seqs))  # ln P of each token
    ngram_lp = np.concatenate(ngram.token_logprobs_batch(seqs))
    # nats over (chars · ln 2), not nats_to_bpc's nats / ln 2 / chars: the figures
    # manifests hold were computed in this order, and stay the same to the last digit
    chars = sentence_chars(lines) * math.log(2)
    grid = np.linspace(0.05, 1.0, 20)
    bpc = [-interpolate(neural_lp, ngram_lp, w).sum() / chars for w in grid]
    best = int(np.argmin(bpc))
    return float(grid[best]), {"neural_bpc": float(-neural_lp.sum() / chars),
                               "ngram_bpc": float(-ngram_lp.sum() / chars),
                               "mixture_bpc": float(bpc[best])}


def evaluate(engine: CompletionEngine, sentences: list[list[str]], bpc: bool = True,
             progress: Callable[[int, int], None] | None = None,
             keystrokes: bool = True) -> dict[str, Any]:
    """All figures of the shared benchmark for ``engine`` on ``sentences``; without
    ``keystrokes``, next-word accuracy only (a fifth of the requests)."""
    timer = Timer()
    suggest = timer.wrap(lambda text: [c.text for c in engine.complete(text, k=K)])
    next_word, prefix = Hits(), Hits()
    keys = chars = words = used = total = 0
    for s, ws in enumerate(sentences, 1):
        for i, word in enumerate(ws):
            context = typed_before(ws, i)
            next_word.add(word, suggest(context))
            if keystrokes and len(word) > 1:
                prefix.add(word, suggest(context + word[0]))
        if keystrokes:
            keys += ksr_chars(suggest, ws)
            u, t = ksr_keys(suggest, ws)
            used, total = used + u, total + t
        chars += len(" ".join(ws))
        words += len(ws)
        if progress:
            progress(s, len(sentences))
    out: dict[str, Any] = {
        "sentences": len(sentences), "words": words, "chars": chars,
        "next_word": next_word.figures(), "latency_ms": timer.figures()}
    if keystrokes:
        out.update(prefix=prefix.figures(),
                   ksr={"ksr": 1 - keys / max(chars, 1), "keystrokes": keys, "chars": chars,
                        "oracle": 1 - words / max(chars, 1)},
                   ksr_keys={"ksr": 1 - used / max(total, 1), "keystrokes": used,
                             "keys": total, "oracle": 1 - words / max(total, 1)})
    if bpc:
        out["bpc"] = bits_per_char(engine.lm, engine.tok, [" ".join(ws) for ws in sentences])
    return out


def format_report(r: dict[str, Any]) -> str:
    """The figures as the shared benchmark prints them."""
    pct = lambda x: f"{100 * x:5.1f}%"  # noqa: E731
    nw, lat = r["next_word"], r["latency_ms"]
    hits = lambda h: f"{pct(h['hit@1'])} ({round(h['hit@1'] * h['positions'])})  " \
        f"hit@3 {pct(h['hit@3'])} ({round(h['hit@3'] * h['positions'])})"  # noqa: E731
    lines = [f"sentences {r['sentences']}  words {r['words']}  chars {r['chars']}",
             f"next-word  hit@1 {hits(nw)}  of {nw['positions']} positions"]
    if "ksr" in r:
        px, ksr, kk = r["prefix"], r["ksr"], r["ksr_keys"]
        lines += [f"prefix     hit@1 {hits(px)}  of {px['positions']} positions",
                  f"KSR        {pct(ksr['ksr'])}  (oracle {pct(ksr['oracle'])})",
                  f"KSR keys   {pct(kk['ksr'])}  (oracle {pct(kk['oracle'])}; "
                  f"{kk['keystrokes']} of {kk['keys']} keys)"]
    if lat.get("count"):
        lines.append(f"latency ms p50 {lat['p50']:.2f}  p95 {lat['p95']:.2f}  "
                     f"p99 {lat['p99']:.2f}  ({lat['count']} calls, in process)")
    if "bpc" in r:
        lines.append(f"BPC        {r['bpc']:.4f}")
    return "\n".join(lines)
