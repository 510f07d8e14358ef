"""The benchmark report: every model family and the peers, side by side on NSMC.

    python bench/quality.py            # the full run: about an hour on 2 cores
    python bench/quality.py --quick    # a few minutes: small budgets and samples

Trains (or reuses, when the same configuration is already in ``--workdir``) the
n-gram models of orders 2-5 and the window, plain RNN, GRU and LSTM models on
``../shared/data/nsmc/train.txt``, one stated time budget per neural family; evaluates
each on ``test.txt`` (BPC over every line, accuracy and keystroke savings on the shared
benchmark's sample) in process; runs the peers (most-popular-completion and Presage)
behind the same HTTP contract through ``../shared/bench/autocomplete_eval.py``; runs
``bench/serve_bench.py`` on the served model; and writes ``docs/benchmarks.md`` with
its plots. Every figure is cached per model in ``--workdir/results`` and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.artifacts import read_manifest  # noqa: E402
from models.devices import bf16_supported  # noqa: E402
from models.evaluation import bits_per_char, evaluate, sample_sentences  # noqa: E402
from models.loading import load_model  # noqa: E402
from models.neural_training import NeuralTrainConfig  # noqa: E402
from models.training import (  # noqa: E402
    NeuralOptions,
    TrainOptions,
    dir_size,
    train_neural_directory,
    train_ngram_directory,
)

NSMC = ROOT.parent / "shared" / "data" / "nsmc"
DOCS = ROOT / "docs"
NEURAL = {  # family -> (embed, hidden, cutoffs): the sizes the 2-core budget affords
    "window": (256, 512, [1000, 3000]),
    "rnn": (256, 512, [1000, 3000]),
    "gru": (256, 512, [1000, 3000]),
    "lstm": (256, 512, [1000, 3000]),
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ensure_ngram(work: Path, order: int, tokenizer: Path | None) -> Path:
    out = work / f"ngram{order}"
    if (out / "manifest.json").is_file():
        return out
    log(f"training the {order}-gram")
    train_ngram_directory(TrainOptions(corpus=NSMC / "train.txt", out=out, order=order,
                                       valid=NSMC / "valid.txt", tokenizer=tokenizer,
                                       progress=False))
    return out


def has_family(directory: Path, arch: str) -> bool:
    """Whether ``directory`` is a published model directory holding family ``arch``."""
    return (directory / "manifest.json").is_file() and arch in read_manifest(directory)["models"]


def ensure_neural(work: Path, arch: str, minutes: float, tokenizer: Path) -> Path:
    out = work / f"{arch}-{minutes:g}min"
    if has_family(out, arch):
        return out
    log(f"training {arch} for at most {minutes:g} minutes")
    opts = TrainOptions(corpus=NSMC / "train.txt", out=out, order=2, valid=NSMC / "valid.txt",
                        tokenizer=tokenizer, progress=False)
    if not (out / "manifest.json").is_file():
        train_ngram_directory(opts)
    embed, hidden, cutoffs = NEURAL[arch]
    # one thread: the peers' benchmark may run on the other core meanwhile
    tcfg = NeuralTrainConfig(max_minutes=minutes, batch_tokens=8192, bf16=bf16_supported(),
                             threads=1)
    train_neural_directory(opts, NeuralOptions(arch=arch, embed_dim=embed, hidden_size=hidden,
                                               cutoffs=cutoffs, train=tcfg))
    return out


def other_budgets(models: Path, minutes: float) -> list[tuple[str, Path, str]]:
    """(name, directory, family) of the family models in ``models`` trained with another
    budget than this run's (``scripts/train.py --out models/rnn-20min ...`` by hand)."""
    found = []
    for d in sorted(models.glob("*-*min")):
        arch, _, budget = d.name.partition("-")
        try:
            other = float(budget.removesuffix("min"))
        except ValueError:
            continue
        if arch in NEURAL and other != minutes and has_family(d, arch):
            found.append((d.name, d, arch))
    return found


def cached(path: Path, key: str) -> dict[str, Any] | None:
    """The figures stored at ``path`` when they were measured for ``key``, else None."""
    if path.is_file() and (r := json.loads(path.read_text())).get("key") == key:
        return r
    return None


def measure(name: str, directory: Path, family: str, work: Path, sentences: int,
            bpc_lines: int) -> dict[str, Any]:
    """All figures of one model, cached by the version of its directory."""
    manifest = read_manifest(directory)
    key = f"{manifest['created']}-{sentences}-{bpc_lines}"
    cache = work / "results" / f"{name}.json"
    vocab = manifest.get("tokenizer", {}).get("vocab_size")
    if (r := cached(cache, key)) is not None:
        return {**r, "vocab": vocab}
    log(f"evaluating {name}")
    model = load_model(directory, family)
    lines = [x for x in (NSMC / "test.txt").read_text(encoding="utf-8").split("\n") if x.strip()]
    r = evaluate(model.engine, sample_sentences(lines, sentences, 0), bpc=False)
    subset = lines if bpc_lines <= 0 else lines[:bpc_lines]
    r["bpc"] = bits_per_char(model.engine.lm, model.engine.tok, subset)
    parts = family.split("+")
    info = manifest["models"][parts[0]]
    lm = model.engine.lm
    memory = lm.nbytes() if hasattr(lm, "nbytes") else sum(
        p.numel() * p.element_size() for p in lm.module.parameters())
    disk = sum(dir_size(directory.resolve() / manifest["models"][p]["dir"]) for p in parts)
    r.update(key=key, name=name, family=family, vocab=vocab, disk_bytes=disk,
             memory_bytes=int(memory), train_seconds=info.get("train_seconds"),
             load_seconds=model.load_seconds, bpc_lines=len(subset),
             tokens_per_second=info.get("report", {}).get("tokens_per_second"),
             parameters=info.get("parameters") or sum((info.get("ngrams") or {}).values()))
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(r, ensure_ascii=False, indent=2))
    return r


def peer(name: str, work: Path, sentences: int) -> dict[str, Any] | None:
    """A peer through the shared HTTP benchmark, or None where it cannot run here."""
    cache = work / "results" / f"peer-{name}-{sentences}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    from bench.peers import run_peer

    log(f"peer {name}: {sentences} sentences over HTTP")
    try:
        return run_peer(name, sentences=sentences, out=cache,
                        server_log=work / f"peer-{name}.log")
    except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
        log(f"peer {name} could not run: {e}")
        return None


def serve(model_dir: Path, work: Path, seconds: float,
          file: Path | None = None) -> dict[str, Any] | None:
    """serve_bench's figures (typing ``file``, default the NSMC test split), cached by the
    version of the served directory."""
    out = work / "results" / f"serve-{seconds:g}s.json"
    key = f"{model_dir.resolve()} {read_manifest(model_dir)['created']}"
    if (r := cached(out, key)) is not None:
        return r
    log(f"serve_bench on {model_dir}")
    out.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "serve_bench.py"),
                           "--model-dir", str(model_dir), "--seconds", str(seconds),
                           "--json", str(out), *(["--file", str(file)] if file else [])],
                          cwd=ROOT)
    if done.returncode != 0 or not out.is_file():
        return None
    r = json.loads(out.read_text()) | {"key": key}
    out.write_text(json.dumps(r, ensure_ascii=False, indent=2))
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small budgets and samples")
    ap.add_argument("--workdir", type=Path, default=ROOT / "models-data" / "bench")
    ap.add_argument("--served", type=Path, default=ROOT / "models-data" / "nsmc-gru",
                    help="the model directory the service serves (its recurrent model is "
                         "reported with the budget it was trained with)")
    ap.add_argument("--minutes", type=float, help="budget of each neural family")
    ap.add_argument("--sentences", type=int, help="benchmark sample (default 300)")
    ap.add_argument("--family-sentences", type=int,
                    help="sample for the neural families trained here (default 100)")
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--skip-serve", action="store_true")
    args = ap.parse_args()
    if not (NSMC / "train.txt").is_file():
        sys.exit(f"{NSMC} is absent: the shared NSMC corpus is needed for the report")
    quick = args.quick
    minutes = args.minutes or (1.0 if quick else 3.0)
    sentences = args.sentences or (30 if quick else 300)
    family_sentences = args.family_sentences or (30 if quick else 100)
    bpc_lines = 1000 if quick else 0
    models = args.workdir / "models"  # the same models serve the quick and the full report
    work = args.workdir / ("quick" if quick else "full")
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    load = round(os.getloadavg()[0], 2)  # how busy the machine was before this run began
    tok = args.served / "tokenizer.model" if (args.served / "manifest.json").is_file() else None
    rows = []
    if (args.served / "manifest.json").is_file():
        m = read_manifest(args.served)
        for family in [f for f in m["models"] if f != "ngram"]:
            mins = m["models"][family]["training"]["max_minutes"]
            rows.append(measure(f"served-{family}-{mins:g}min", args.served, family, work,
                                sentences, bpc_lines))
            if m["models"][family].get("interpolation"):
                rows.append(measure(f"served-{family}+ngram", args.served, f"{family}+ngram",
                                    work, sentences, bpc_lines))
    for order in (2, 3, 4, 5):
        d = ensure_ngram(models, order, tok)
        tok = tok or d / "tokenizer.model"
        rows.append(measure(f"ngram{order}", d, "ngram", work, sentences, bpc_lines))
    for arch in NEURAL:  # a smaller sample: beam search over a neural model costs more
        d = ensure_neural(models, arch, minutes, tok)
        rows.append(measure(f"{arch}-{minutes:g}min", d, arch, work, family_sentences,
                            bpc_lines))
    rows += [measure(name, d, arch, work, family_sentences, bpc_lines)
             for name, d, arch in other_budgets(models, minutes)]
    peers = {}
    if not args.skip_peers:
        for name in ("mpc-unigram", "mpc-bigram", "mpc-bigram-jamo", "presage"):
            # Presage answers in 0.1-0.5 s here: a smaller sample keeps the run within the hour
            peers[name] = peer(name, work, sentences if name != "presage" or quick
                               else min(sentences, 20))
    serving = None
    if not args.skip_serve and (args.served / "manifest.json").is_file():
        serving = serve(args.served, work, 5 if quick else 20)
    from bench.report import write_report

    write_report(rows, peers, serving, DOCS, {
        "quick": quick, "minutes": minutes, "sentences": sentences,
        "family_sentences": family_sentences,
        "machine": f"{platform.processor() or platform.machine()}, "
                   f"{os.cpu_count()} cores, {platform.python_version()}",
        "wall_minutes": round((time.time() - t0) / 60, 1), "load": load})
    log(f"wrote {DOCS / 'benchmarks.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
