"""Train a model directory from a text corpus (one sentence per line).

    python scripts/train.py --corpus data/sample_corpus.txt --out models-data/default
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.training import TrainOptions, summary_table, train_ngram_directory  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="UTF-8 text, one sentence a line")
    ap.add_argument("--out", type=Path, required=True, help="model directory to publish")
    ap.add_argument("--valid", type=Path, help="held-out text for validation BPC")
    ap.add_argument("--vocab-size", type=int, help="SentencePiece pieces (default: by corpus size)")
    ap.add_argument("--order", type=int, default=5, help="n-gram order (default 5)")
    ap.add_argument("--prune", type=int, nargs="*", default=[],
                    help="per order, drop n-grams seen at most this often (e.g. 0 0 1 1 1)")
    ap.add_argument("--valid-lines", type=int, default=5000)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if not args.corpus.is_file():
        ap.error(f"--corpus {args.corpus}: no such file")
    if args.order < 1:
        ap.error("--order must be at least 1")
    opts = TrainOptions(corpus=args.corpus, out=args.out, valid=args.valid,
                        vocab_size=args.vocab_size, order=args.order, prune=args.prune,
                        valid_lines=args.valid_lines, progress=not args.no_progress)
    rows = [train_ngram_directory(opts)]
    print(summary_table(rows))
    print(f"published {args.out} -> {args.out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
