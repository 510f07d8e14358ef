"""Build a model directory from a text corpus: tokenizer, then n-gram, then (optionally)
a neural model, each stage published atomically so the service can start on the
n-gram while the neural model is still training."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from models.artifacts import ModelWriter, corpus_fingerprint, read_manifest
from models.bpc import sentence_chars
from models.evaluation import bits_per_char, tune_weight
from models.families import served_family
from models.lm import LanguageModel
from models.neural import (
    DEFAULT_CUTOFFS,
    NeuralConfig,
    NeuralLM,
    NeuralLMModule,
    save_neural,
)
from models.neural_training import NeuralTrainConfig, barrier, train_module, world
from models.ngram import NgramConfig, NgramModel
from models.ngram_builder import build_ngram
from models.sizing import fit_to_budget
from models.token_store import TokenStore
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
    tokenizer: Path | None = None  # reuse this SentencePiece model instead of training one
    progress: bool = True
    holdout: int = 0  # every holdout-th line of the corpus is held out for validation (0: none)
    source: Path | None = None  # the corpus ``corpus`` and ``valid`` were split from


def hold_out(opts: TrainOptions) -> TrainOptions:
    """Options that train on ``opts.corpus`` less every ``opts.holdout``-th line and validate
    on those lines, as ``--valid`` would: a small corpus with no validation text of its own
    can still stop its neural model at the best held-out BPC and tune the interpolation.

    The two parts are written to ``.NAME.holdout/`` beside ``opts.out`` (by rank 0 under
    torchrun); the manifest keeps the fingerprint of the corpus they came from."""
    if opts.holdout < 2:
        raise ValueError(f"holdout must be at least 2 (every n-th line), not {opts.holdout}")
    folder = opts.out.parent / f".{opts.out.name}.holdout"
    stem = Path(opts.corpus).stem
    train, valid = folder / f"{stem}.train.txt", folder / f"{stem}.heldout.txt"
    if world()[0] == 0:
        folder.mkdir(parents=True, exist_ok=True)
        parts: tuple[list[str], list[str]] = ([], [])
        for i, line in enumerate(read_lines(opts.corpus)):
            parts[(i + 1) % opts.holdout == 0].append(line)
        if not parts[0] or not parts[1]:
            raise ValueError(f"{opts.corpus}: too few lines to hold out every "
                             f"{opts.holdout}th ({len(parts[0]) + len(parts[1])})")
        for path, lines in zip((train, valid), parts, strict=True):
            write_lines(path, lines)
    barrier()
    return replace(opts, corpus=train, valid=valid, source=opts.corpus)


def write_lines(path: Path, lines: list[str]) -> None:
    """UTF-8 lines to ``path``, replaced in one rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(f"{x}\n" for x in lines), encoding="utf-8")
    tmp.replace(path)


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
    with ModelWriter(opts.out) as writer:  # abandoned unless published
        tconf = TokenizerConfig(vocab_size=vocab)
        if opts.tokenizer:
            shutil.copyfile(opts.tokenizer, writer.path("tokenizer.model"))
            tok = Tokenizer(writer.path("tokenizer.model"))
            tconf = TokenizerConfig(vocab_size=tok.vocab_size)
            print(f"tokenizer: {opts.tokenizer} ({tok.vocab_size} pieces)", flush=True)
        else:
            print(f"tokenizer: SentencePiece unigram, {vocab} pieces, on {lines:,} lines",
                  flush=True)
            tok = train_tokenizer(read_lines(opts.corpus), writer.path("tokenizer.model"), tconf)
        t_tok = time.perf_counter() - t0
        nconf = NgramConfig(order=opts.order, prune=list(opts.prune))
        print(f"n-gram: order {nconf.order}, modified Kneser-Ney", flush=True)
        ngram = build_ngram(encode_corpus(tok, opts.corpus, lines, opts.progress),
                            tok.vocab_size, tok.bos_id, tok.eos_id, nconf)
        ngram.save(writer.path("ngram"))
        t_ngram = time.perf_counter() - t0 - t_tok
        figures: dict[str, Any] = {}
        if opts.valid:
            valid = sample_lines(opts.valid, opts.valid_lines)
            figures = {"bpc": bits_per_char(ngram, tok, valid), "lines": len(valid),
                       "file": Path(opts.valid).name}
        writer.manifest["corpus"] = corpus_fingerprint(opts.source or opts.corpus) | {
            "lines": lines, "chars": chars}
        if opts.source:  # trained on the rest: ``lines`` and ``chars`` are those trained on
            writer.manifest["corpus"]["held_out"] = {"every": opts.holdout,
                                                     "lines": count_corpus(opts.valid)[0]}
        writer.manifest["tokenizer"] = asdict(tconf) | {"file": "tokenizer.model",
                                                        "vocab_size": tok.vocab_size}
        writer.manifest["models"]["ngram"] = {
            "family": "ngram", "dir": "ngram", "config": asdict(nconf),
            "ngrams": ngram.counts, "validation": figures,
            "train_seconds": round(t_ngram, 1), "bytes": dir_size(writer.dir / "ngram")}
        writer.publish()
    return {"family": "ngram", "parameters": sum(ngram.counts.values()),
            "bytes": writer.manifest["models"]["ngram"]["bytes"],
            "valid_bpc": figures.get("bpc"), "seconds": time.perf_counter() - t0}



def summary_table(rows: list[dict[str, Any]]) -> str:
    """The closing table of a training run."""
    head = f"{'family':<8} {'parameters':>12} {'size on disk':>14} {'valid BPC':>10} {'time':>9}"
    out = [head, "-" * len(head)]
    for r in rows:
        bpc = "n/a" if r.get("valid_bpc") is None else f"{r['valid_bpc']:.4f}"
        out.append(f"{r['family']:<8} {r['parameters']:>12,} {r['bytes'] / 1e6:>11.1f} MB "
                   f"{bpc:>10} {r['seconds']:>8.1f}s")
    return "\n".join(out)


def validation_report(directory: Path) -> str:
    """The validation BPC of each model of a directory as its manifest records it, the
    interpolation's too, and which one the service serves (``served_family``); empty
    where the directory was trained without validation text."""
    manifest = read_manifest(directory)
    models, corpus = manifest["models"], manifest["corpus"]
    ngram = models["ngram"]["validation"]
    if not ngram:
        return ""
    rows = [("ngram", ngram["bpc"], "")]
    for family, info in models.items():
        if family != "ngram" and info.get("validation", {}).get("bpc") is not None:
            rows.append((family, info["validation"]["bpc"], ""))
            mix = info.get("interpolation")
            if mix:
                rows.append((f"{family}+ngram", mix["valid"]["mixture_bpc"],
                             f"weight {mix['weight']:.2f}"))
    served = served_family(manifest)
    held = corpus.get("held_out")
    where = (f"every {held['every']}th line of {corpus['name']} held out, {held['lines']:,} "
             f"lines" if held else f"{ngram['file']}, {ngram['lines']:,} lines")
    out = [f"validation BPC ({where}):"]
    out += [f"  {name:<12} {bpc:.4f}  {note:<12}{'  <- served' if name == served else ''}"
            .rstrip() for name, bpc, note in rows]
    return "\n".join(out)


@dataclass
class NeuralOptions:
    """The neural stage of ``scripts/train.py``; the defaults are NeuralConfig's, and a size
    left None (here, or ``train.batch_tokens``) is chosen by corpus size (``corpus_sizes``)."""

    arch: str = NeuralConfig.arch
    embed_dim: int | None = None
    hidden_size: int | None = None
    num_layers: int = NeuralConfig.num_layers
    dropout: float = NeuralConfig.dropout
    window: int = NeuralConfig.window
    cutoffs: list[int] | None = None  # []: a full softmax, its weights tied to the embedding
    div_value: float = NeuralConfig.div_value
    train: NeuralTrainConfig = field(default_factory=NeuralTrainConfig)
    checkpoint_dir: Path | None = None
    resume: bool = False
    interpolate: bool = True  # tune the weight of a mixture with the n-gram on --valid
    fit_budget: bool = False  # the hidden size the time budget can train (models/sizing.py)


@dataclass(frozen=True)
class CorpusSizes:
    """The sizes a neural model gets where NeuralOptions leaves them None."""

    embed_dim: int
    hidden_size: int
    cutoffs: tuple[int, ...]  # (): a full softmax with tied weights
    batch_tokens: int


LARGE_CORPUS_TOKENS = 2_000_000  # tokens an epoch above which a corpus counts as large
LARGE_CORPUS = CorpusSizes(embed_dim=NeuralConfig.embed_dim, hidden_size=NeuralConfig.hidden_size,
                           cutoffs=DEFAULT_CUTOFFS, batch_tokens=8192)
# a smaller model, and more, smaller steps: a small corpus gives few batches an epoch
SMALL_CORPUS = CorpusSizes(embed_dim=128, hidden_size=256, cutoffs=(), batch_tokens=1024)


def corpus_sizes(tokens: int) -> CorpusSizes:
    """The sizes for a corpus of ``tokens`` tokens an epoch."""
    return LARGE_CORPUS if tokens > LARGE_CORPUS_TOKENS else SMALL_CORPUS


def neural_config(options: NeuralOptions, tokens: int, tok: Tokenizer) -> NeuralConfig:
    """The model ``options`` ask for on a corpus of ``tokens`` tokens, sizes left None
    taken from ``corpus_sizes``; the output weights are tied to the embedding unless
    adaptive softmax cutoffs are asked for (whether or not they fit the vocabulary)."""
    sizes = corpus_sizes(tokens)
    cutoffs = list(sizes.cutoffs if options.cutoffs is None else options.cutoffs)
    return NeuralConfig(arch=options.arch, vocab_size=tok.vocab_size,
                        embed_dim=options.embed_dim or sizes.embed_dim,
                        hidden_size=options.hidden_size or sizes.hidden_size,
                        num_layers=options.num_layers, dropout=options.dropout,
                        window=options.window, cutoffs=cutoffs, div_value=options.div_value,
                        tie_weights=not cutoffs, bos_id=tok.bos_id, eos_id=tok.eos_id)


def train_config(options: NeuralOptions, tokens: int) -> NeuralTrainConfig:
    """``options.train`` with its batch size chosen by corpus size where it is None."""
    return replace(options.train,
                   batch_tokens=options.train.batch_tokens or corpus_sizes(tokens).batch_tokens)


def _store(directory: Path, source: dict[str, Any], make: Any) -> TokenStore:
    """A token store in ``directory``, rebuilt unless it was made from the same source.

    Under torchrun rank 0 builds it while the others wait, then all map it; a rank on
    another machine without the shared folder builds its own copy."""
    stamp = directory / "source.json"

    def build_unless_current() -> None:
        if not (stamp.is_file() and json.loads(stamp.read_text()) == source):
            TokenStore.write(make(), directory)
            stamp.write_text(json.dumps(source))

    if world()[0] == 0:
        build_unless_current()
    barrier()
    build_unless_current()  # a no-op where rank 0's folder is shared
    return TokenStore(directory)


def interpolation(neural: LanguageModel, published: Path, tok: Tokenizer, lines: list[str],
                  source: Path) -> dict[str, Any]:
    """The manifest entry of a neural model interpolated with the directory's n-gram:
    the weight tuned on ``lines`` and the validation BPC of each part and the mixture."""
    ngram = NgramModel.load(published / "ngram")
    weight, figures = tune_weight(neural, ngram, tok, lines)
    if world()[0] == 0:
        print(f"interpolation with the n-gram: weight {weight:.2f}, valid BPC "
              f"{figures['mixture_bpc']:.4f} (neural {figures['neural_bpc']:.4f}, "
              f"n-gram {figures['ngram_bpc']:.4f})", flush=True)
    return {"weight": weight, "valid": figures | {"lines": len(lines),
                                                  "file": Path(source).name}}


def train_neural_directory(opts: TrainOptions, neural: NeuralOptions) -> dict[str, Any]:
    """Train a neural model on the tokenizer of the published ``opts.out``, then publish the
    directory again with the model added. A checkpoint beside it allows ``resume``."""
    t0 = time.perf_counter()
    published = Path(opts.out).resolve()
    manifest = read_manifest(published)
    tok = Tokenizer(published / "tokenizer.model")
    tok_sha = manifest["files"]["tokenizer.model"]
    arch = neural.arch
    checkpoint_dir = neural.checkpoint_dir or opts.out.parent / f".{opts.out.name}.train-{arch}"
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    corpus_sha = manifest["corpus"]["sha256"]
    lines = manifest["corpus"]["lines"]
    held_out = manifest["corpus"].get("held_out")  # another split is another training text
    train = _store(checkpoint_dir / "train", {"tokenizer": tok_sha, "corpus": corpus_sha} | (
        {"held_out": held_out} if held_out else {}),
                   lambda: encode_corpus(tok, opts.corpus, lines, opts.progress))
    valid, valid_chars = None, 0
    if opts.valid:
        valid_text = sample_lines(opts.valid, opts.valid_lines)
        valid_chars = sentence_chars(valid_text)
        valid = _store(checkpoint_dir / "valid", {"tokenizer": tok_sha, "valid": str(opts.valid),
                                                  "lines": len(valid_text)},
                       lambda: tok.encode_batch(valid_text))
    cfg = neural_config(neural, train.num_tokens(), tok)
    training = train_config(neural, train.num_tokens())
    checkpoint = checkpoint_dir / "checkpoint.safetensors"
    fitted = None  # a resumed run keeps the size its checkpoint was chosen at
    if neural.fit_budget and not (neural.resume and checkpoint.is_file()):
        cfg, training, fitted = fit_to_budget(cfg, training, train)
    params = sum(p.numel() for p in NeuralLMModule(cfg).parameters())
    if world()[0] == 0:
        if fitted:
            print(f"{arch}: hidden size {fitted.hidden_size} for {training.max_minutes:.1f} "
                  "minutes; " + ", ".join(
                      f"{h}: {s:,.0f} tokens/s, {fitted.epochs(h):.2f} epochs"
                      for h, s in fitted.tokens_per_second.items()), flush=True)
        print(f"{arch}: {cfg.embed_dim}/{cfg.hidden_size}x{cfg.num_layers}, "
              f"{params:,} parameters, {train.num_tokens():,} tokens an epoch", flush=True)
    module, report = train_module(cfg, training, train, valid, valid_chars, checkpoint,
                                  resume=neural.resume, progress=opts.progress)
    barrier()
    if module is None:  # not rank 0: rank 0 publishes
        return {}
    mix = None
    if opts.valid and neural.interpolate:
        mix = interpolation(NeuralLM(module), published, tok,
                            sample_lines(opts.valid, opts.valid_lines), opts.valid)
    with ModelWriter(opts.out, base=published) as writer:  # abandoned unless published
        save_neural(module, writer.path(arch))
        writer.manifest["models"][arch] = {
            "family": arch, "dir": arch, "config": asdict(module.cfg),
            "training": asdict(training), "report": report, "parameters": params,
            "validation": {"bpc": report["valid_bpc"], "lines": opts.valid_lines,
                           "file": Path(opts.valid).name if opts.valid else None},
            "train_seconds": report["seconds"], "bytes": dir_size(writer.dir / arch)}
        if mix:
            writer.manifest["models"][arch]["interpolation"] = mix
        if fitted:
            writer.manifest["models"][arch]["fit_budget"] = fitted.report()
        writer.publish()
    shutil.rmtree(checkpoint_dir, ignore_errors=True)  # published: the checkpoint has served
    return {"family": arch, "parameters": params, "bytes": dir_size(opts.out.resolve() / arch),
            "valid_bpc": report["valid_bpc"], "seconds": time.perf_counter() - t0,
            "tokens_per_second": report["tokens_per_second"]}
