"""Train a model directory from a text corpus (one sentence per line): the tokenizer
and the n-gram model, published at once, then a neural model added to it.

    python scripts/train.py --corpus data/sample_corpus.txt --holdout 20 --out models-data/default
    python scripts/train.py --corpus train.txt --valid valid.txt --out models-data/nsmc \
        --arch lstm --max-minutes 55
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import torch

from models.artifacts import ModelDirectoryError, read_manifest, sha256_file
from models.devices import bf16_supported, bf16_unsupported_reason
from models.neural import ARCHS
from models.neural_training import NeuralTrainConfig, barrier, init_distributed
from models.sizing import MIN_EPOCHS
from models.training import (
    LARGE_CORPUS,
    LARGE_CORPUS_TOKENS,
    SMALL_CORPUS,
    NeuralOptions,
    TrainOptions,
    hold_out,
    summary_table,
    train_neural_directory,
    train_ngram_directory,
    validation_report,
)


def default(options: type, name: str) -> Any:
    """The default of the field ``name`` of the dataclass ``options``: the command line's
    defaults are the library's, written there once."""
    spec = next(f for f in fields(options) if f.name == name)
    return spec.default if spec.default_factory is MISSING else spec.default_factory()


def by_corpus_size(name: str) -> str:
    """The help text of a size chosen by corpus size (``models.training.corpus_sizes``)."""
    large, small = (getattr(sizes, name) for sizes in (LARGE_CORPUS, SMALL_CORPUS))
    large, small = (" ".join(map(str, v)) or "none" if isinstance(v, tuple) else v
                    for v in (large, small))
    return f"default: {large} for a corpus of over {LARGE_CORPUS_TOKENS:,} tokens, else {small}"


def parse(argv: list[str] | None) -> argparse.Namespace:
    training, neural = NeuralTrainConfig(), NeuralOptions()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="UTF-8 text, one sentence a line")
    ap.add_argument("--out", type=Path, required=True, help="model directory to publish")
    ap.add_argument("--valid", type=Path, help="held-out text for validation BPC")
    ap.add_argument("--valid-lines", type=int, default=default(TrainOptions, "valid_lines"))
    ap.add_argument("--holdout", type=int, default=default(TrainOptions, "holdout"),
                    metavar="N",
                    help="without --valid: hold out every N-th line of --corpus for validation")
    g = ap.add_argument_group("tokenizer and n-gram")
    g.add_argument("--vocab-size", type=int, help="SentencePiece pieces (default: by corpus size)")
    g.add_argument("--tokenizer", type=Path, help="reuse this tokenizer.model (no training)")
    g.add_argument("--order", type=int, default=default(TrainOptions, "order"),
                   help="n-gram order (default %(default)s)")
    g.add_argument("--prune", type=int, nargs="*", default=default(TrainOptions, "prune"),
                   help="per order, drop n-grams seen at most this often (e.g. 0 0 0 1 1)")
    g = ap.add_argument_group("neural model")
    g.add_argument("--arch", choices=[*ARCHS, "none"], default=neural.arch,
                   help="neural model added after the n-gram (default %(default)s; none: "
                        "n-gram only)")
    g.add_argument("--embed-dim", type=int, help=by_corpus_size("embed_dim"))
    g.add_argument("--hidden-size", type=int, help=by_corpus_size("hidden_size"))
    g.add_argument("--num-layers", type=int, default=neural.num_layers)
    g.add_argument("--dropout", type=float, default=neural.dropout)
    g.add_argument("--window", type=int, default=neural.window,
                   help="context of the window model")
    g.add_argument("--cutoffs", type=int, nargs="*",
                   help="adaptive softmax cutoffs (given none: full softmax, tied weights; "
                        f"{by_corpus_size('cutoffs')})")
    g.add_argument("--div-value", type=float, default=neural.div_value,
                   help="adaptive softmax: each cluster's projection is this much narrower")
    g.add_argument("--epochs", type=int, default=training.epochs)
    g.add_argument("--max-minutes", type=float, default=training.max_minutes,
                   help="training time budget")
    g.add_argument("--fit-budget", action="store_true",
                   help="measure a few steps of the hidden size, 3/4 and 1/2 of it, and train "
                        f"the widest that --max-minutes shows the corpus {MIN_EPOCHS:g} times "
                        "(the narrowest where none does); the manifest keeps the speeds")
    g.add_argument("--batch-tokens", type=int,
                   help=f"tokens a batch ({by_corpus_size('batch_tokens')})")
    g.add_argument("--lr", type=float, default=training.lr)
    g.add_argument("--weight-decay", type=float, default=training.weight_decay,
                   help="AdamW weight decay")
    g.add_argument("--device", default=training.device,
                   help="auto (CUDA when present), cpu, cuda")
    g.add_argument("--threads", type=int, default=training.threads,
                   help="torch threads (0: all cores)")
    g.add_argument("--bf16", choices=["auto", "on", "off"], default="auto",
                   help="bfloat16 autocast (auto: where the hardware has it, a CPU with "
                        "AVX512-BF16 or AMX or a CUDA GPU with bfloat16; float32 elsewhere)")
    g.add_argument("--checkpoint-dir", type=Path)
    g.add_argument("--checkpoint-minutes", type=float, default=training.checkpoint_minutes,
                   help="minutes between checkpoints")
    g.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint of a killed run")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if not args.corpus.is_file():
        ap.error(f"--corpus {args.corpus}: no such file")
    if args.valid and not args.valid.is_file():
        ap.error(f"--valid {args.valid}: no such file")
    if args.holdout and (args.valid or args.holdout < 2):
        ap.error("--holdout N: every N-th line (N >= 2) is held out, and not with --valid")
    if args.order < 1:
        ap.error("--order must be at least 1")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error(f"--device {args.device}: PyTorch sees no CUDA GPU here (use auto or cpu)")
    if args.bf16 == "on" and args.arch != "none" and (why := bf16_unsupported_reason(args.device)):
        ap.error(f"--bf16 on: {why}. bfloat16 autocast needs a CPU with AVX512-BF16 or AMX, "
                 "or a CUDA GPU with bfloat16; --bf16 auto trains in float32 here")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    rank, size = init_distributed(args.device)  # torchrun: one process a rank
    opts = TrainOptions(corpus=args.corpus, out=args.out, valid=args.valid,
                        vocab_size=args.vocab_size, order=args.order, prune=args.prune,
                        valid_lines=args.valid_lines, tokenizer=args.tokenizer,
                        progress=not args.no_progress, holdout=args.holdout)
    if args.holdout:  # the corpus is split: the held-out part is the validation text
        opts = hold_out(opts)
    rows = []
    reuse = False
    if args.resume:  # the n-gram stage is done when the directory is of this corpus
        try:
            reuse = read_manifest(args.out)["corpus"]["sha256"] == sha256_file(args.corpus)
        except (ModelDirectoryError, KeyError):
            reuse = False
    if reuse:
        print(f"resume: {args.out} already has the tokenizer and n-gram of this corpus")
    elif rank == 0:  # the tokenizer and n-gram counts are built once
        rows.append(train_ngram_directory(opts))
    barrier()
    if args.arch != "none":
        bf16 = {"on": True, "off": False}.get(args.bf16)
        training = NeuralTrainConfig(epochs=args.epochs, max_minutes=args.max_minutes,
                                     batch_tokens=args.batch_tokens, lr=args.lr,
                                     weight_decay=args.weight_decay, device=args.device,
                                     threads=args.threads,
                                     checkpoint_minutes=args.checkpoint_minutes,
                                     bf16=bf16_supported(args.device) if bf16 is None else bf16)
        neural = NeuralOptions(arch=args.arch, embed_dim=args.embed_dim,
                               hidden_size=args.hidden_size, num_layers=args.num_layers,
                               dropout=args.dropout, window=args.window, cutoffs=args.cutoffs,
                               div_value=args.div_value, train=training,
                               checkpoint_dir=args.checkpoint_dir, resume=args.resume,
                               fit_budget=args.fit_budget)
        rows.append(train_neural_directory(opts, neural))
    if rank == 0:
        print(summary_table(rows))
        print(validation_report(args.out) or "validation BPC: none (no --valid, no --holdout)")
        if args.holdout:
            shutil.rmtree(opts.corpus.parent, ignore_errors=True)
        print(f"published {args.out} -> {args.out.resolve()}" + (f" ({size} processes)"
                                                                  if size > 1 else ""))
    if size > 1:
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
