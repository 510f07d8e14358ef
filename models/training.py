"""Build a model directory from a text corpus: tokenizer, then n-gram, then (optionally)
a neural model, each stage published atomically so the service can start on the
n-gram while the neural model is still training."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from models.artifacts import ModelWriter, corpus_fingerprint
from models.lm import LanguageModel
from models.ngram import NgramConfig, NgramModel
from models.tokenizer import (
    Tokenizer,
    TokenizerConfig,
    default_vocab_size,
    read_lines,
    train_tokenizer,
)


@dataclass
class TrainOptions:
    """Everything ``scripts/train.py`` can ask for."""

    corpus: Path
    out: Path
    valid: Path | None = None
    vocab_size: int | None = None
    order: int = 5
    prune: list[int] = field(default_factory=list)
    valid_lines: int = 5000  # validation BPC on at most this many lines
    progress: bool = True


def count_corpus(path: Path) -> tuple[int, int]:
    """Lines and characters of a corpus, streamed."""
    lines = chars = 0
    for line in read_lines(path):
        lines += 1
        chars += len(line)
    return lines, chars


def encode_corpus(tok: Tokenizer, path: Path, total: int | None = None,
                  progress: bool = True, chunk: int = 20000) -> Iterator[list[int]]:
    """Token ids of every line, encoded in multithreaded chunks, streamed."""
    bar = tqdm(total=total, unit="line", desc="encode", disable=not progress, mininterval=1)
    batch: list[str] = []
    for line in read_lines(path):
        batch.append(line)
        if len(batch) >= chunk:
            yield from tok.encode_batch(batch)
            bar.update(len(batch))
            batch = []
    if batch:
        yield from tok.encode_batch(batch)
        bar.update(len(batch))
    bar.close()


def bits_per_char(lm: LanguageModel, tok: Tokenizer, lines: list[str]) -> float:
    """Total −log2 P of each line as a whole sentence, over its characters + 1."""
    nats = 0.0
    for ids in tok.encode_batch(lines):
        nats -= float(lm.token_logprobs([*ids, tok.eos_id]).sum())
    return nats / math.log(2) / sum(len(x) + 1 for x in lines)


def sample_lines(path: Path, limit: int) -> list[str]:
    """The first ``limit`` lines of a file (validation figures on a fixed subset)."""
    out = []
    for line in read_lines(path):
        out.append(line)
        if len(out) >= limit:
            break
    return out


def dir_size(path: Path) -> int:
    """Bytes of all files under ``path``."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def train_ngram_directory(opts: TrainOptions) -> dict[str, Any]:
    """Train the tokenizer and the n-gram model, publish the directory, return a summary row."""
    t0 = time.perf_counter()
    lines, chars = count_corpus(opts.corpus)
    if lines == 0:
        raise ValueError(f"{opts.corpus}: no text (the corpus has no non-blank line)")
    vocab = opts.vocab_size or default_vocab_size(chars)
    writer = ModelWriter(opts.out)
    try:
        tconf = TokenizerConfig(vocab_size=vocab)
        print(f"tokenizer: SentencePiece unigram, {vocab} pieces, on {lines:,} lines", flush=True)
        tok = train_tokenizer(read_lines(opts.corpus), writer.path("tokenizer.model"), tconf)
        t_tok = time.perf_counter() - t0
        nconf = NgramConfig(order=opts.order, prune=list(opts.prune))
        print(f"n-gram: order {nconf.order}, modified Kneser-Ney", flush=True)
        ngram = NgramModel.train(encode_corpus(tok, opts.corpus, lines, opts.progress),
                                 tok.vocab_size, tok.bos_id, tok.eos_id, nconf)
        ngram.save(writer.path("ngram"))
        t_ngram = time.perf_counter() - t0 - t_tok
        figures: dict[str, Any] = {}
        if opts.valid:
            valid = sample_lines(opts.valid, opts.valid_lines)
            figures = {"bpc": bits_per_char(ngram, tok, valid), "lines": len(valid),
                       "file": Path(opts.valid).name}
        writer.manifest["corpus"] = corpus_fingerprint(opts.corpus) | {"lines": lines,
                                                                       "chars": chars}
        writer.manifest["tokenizer"] = asdict(tconf) | {"file": "tokenizer.model",
                                                        "vocab_size": tok.vocab_size}
        writer.manifest["models"]["ngram"] = {
            "family": "ngram", "dir": "ngram", "config": asdict(nconf),
            "ngrams": ngram.counts, "validation": figures,
            "train_seconds": round(t_ngram, 1), "bytes": dir_size(writer.dir / "ngram")}
        writer.publish()
    except BaseException:
        writer.abandon()
        raise
    return {"family": "ngram", "parameters": sum(ngram.counts.values()),
            "bytes": writer.manifest["models"]["ngram"]["bytes"],
            "valid_bpc": figures.get("bpc"), "seconds": time.perf_counter() - t0}


def fingerprint_text(text: str) -> str:
    """Short sha256 of a string (used for cache keys and run names)."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def summary_table(rows: list[dict[str, Any]]) -> str:
    """The closing table of a training run."""
    head = f"{'family':<8} {'parameters':>12} {'size on disk':>14} {'valid BPC':>10} {'time':>9}"
    out = [head, "-" * len(head)]
    for r in rows:
        bpc = "n/a" if r.get("valid_bpc") is None else f"{r['valid_bpc']:.4f}"
        out.append(f"{r['family']:<8} {r['parameters']:>12,} {r['bytes'] / 1e6:>11.1f} MB "
                   f"{bpc:>10} {r['seconds']:>8.1f}s")
    return "\n".join(out)


__all__ = ["TrainOptions", "train_ngram_directory", "summary_table", "bits_per_char", "np"]
