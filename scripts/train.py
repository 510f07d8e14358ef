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
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.artifacts import ModelDirectoryError, read_manifest, sha256_file
from models.neural import ARCHS
from models.neural_training import (
    NeuralTrainConfig,
    barrier,
    bf16_supported,
    bf16_unsupported_reason,
    init_distributed,
)
from models.training import (
    NeuralOptions,
    TrainOptions,
    hold_out,
    summary_table,
    train_neural_directory,
    train_ngram_directory,
    validation_report,
)


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="UTF-8 text, one sentence a line")
    ap.add_argument("--out", type=Path, required=True, help="model directory to publish")
    ap.add_argument("--valid", type=Path, help="held-out text for validation BPC")
    ap.add_argument("--valid-lines", type=int, default=5000)
    ap.add_argument("--holdout", type=int, default=0, metavar="N",
                    help="without --valid: hold out every N-th line of --corpus for validation")
    g = ap.add_argument_group("tokenizer and n-gram")
    g.add_argument("--vocab-size", type=int, help="SentencePiece pieces (default: by corpus size)")
    g.add_argument("--tokenizer", type=Path, help="reuse this tokenizer.model (no training)")
    g.add_argument("--order", type=int, default=5, help="n-gram order (default 5)")
    g.add_argument("--prune", type=int, nargs="*", default=[],
                   help="per order, drop n-grams seen at most this often (e.g. 0 0 0 1 1)")
    g = ap.add_argument_group("neural model")
    g.add_argument("--arch", choices=[*ARCHS, "none"], default="lstm",
                   help="neural model added after the n-gram (default lstm; none: n-gram only)")
    g.add_argument("--embed-dim", type=int)
    g.add_argument("--hidden-size", type=int)
    g.add_argument("--num-layers", type=int, default=1)
    g.add_argument("--dropout", type=float, default=0.1)
    g.add_argument("--window", type=int, default=4, help="context of the window model")
    g.add_argument("--cutoffs", type=int, nargs="*",
                   help="adaptive softmax cutoffs (none given: full softmax, tied weights)")
    g.add_argument("--div-value", type=float, default=4.0,
                   help="adaptive softmax: each cluster's projection is this much narrower")
    g.add_argument("--epochs", type=int, default=10)
    g.add_argument("--max-minutes", type=float, default=60.0, help="training time budget")
    g.add_argument("--batch-tokens", type=int,
                   help="tokens a batch (default: 8192, or 1024 for a small corpus)")
    g.add_argument("--lr", type=float, default=3e-3)
    g.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay")
    g.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    g.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    g.add_argument("--bf16", choices=["auto", "on", "off"], default="auto",
                   help="bfloat16 autocast (auto: where the hardware has it, a CPU with "
                        "AVX512-BF16 or AMX or a CUDA GPU with bfloat16; float32 elsewhere)")
    g.add_argument("--checkpoint-dir", type=Path)
    g.add_argument("--checkpoint-minutes", type=float, default=5.0,
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
        tcfg = NeuralTrainConfig(epochs=args.epochs, max_minutes=args.max_minutes,
                                 batch_tokens=args.batch_tokens or 0, lr=args.lr,
                                 weight_decay=args.weight_decay, device=args.device,
                                 threads=args.threads,
                                 checkpoint_minutes=args.checkpoint_minutes,
                                 bf16=bf16_supported(args.device) if bf16 is None else bf16)
        nopts = NeuralOptions(arch=args.arch, embed_dim=args.embed_dim,
                              hidden_size=args.hidden_size, num_layers=args.num_layers,
                              dropout=args.dropout, window=args.window, cutoffs=args.cutoffs,
                              div_value=args.div_value, train=tcfg,
                              checkpoint_dir=args.checkpoint_dir, resume=args.resume)
        rows.append(train_neural_directory(opts, nopts))
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
