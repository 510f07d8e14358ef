"""Evaluate a model directory on a text file: BPC, next-word and prefix hit@1/@3, KSR.

    python scripts/evaluate.py --model models-data/nsmc --file ../shared/data/nsmc/test.txt \
        --sentences 300 --family ngram --json result.json

The sample and the definitions are those of ../shared/bench/autocomplete_eval.py
(300 sentences, seed 0), with the engine called in process instead of over HTTP.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from models.artifacts import (
    ModelDirectoryError,
)
from models.evaluation import bits_per_char, evaluate, format_report, sample_sentences
from models.loading import load_model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="model directory")
    ap.add_argument("--file", type=Path, required=True, help="UTF-8 text, one sentence a line")
    ap.add_argument("--family", help="ngram, lstm, gru, rnn or window, or one of them "
                    "interpolated (gru+ngram); default: the one the service serves")
    ap.add_argument("--sentences", type=int, default=300,
                    help="sample size for accuracy and KSR (0: BPC of the file only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--next-word-only", action="store_true",
                    help="next-word accuracy only: no prefix accuracy, no keystroke savings "
                         "(a fifth of the requests, for large samples)")
    ap.add_argument("--bpc-lines", type=int, default=0,
                    help="also BPC over the first N lines of the file (0: all lines; -1: none)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    if args.sentences < 0 or args.bpc_lines < -1:
        ap.error("--sentences must be >= 0 and --bpc-lines >= -1")
    if args.sentences == 0 and args.bpc_lines == -1:
        ap.error("--sentences 0 with --bpc-lines -1 leaves nothing to measure")
    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        ap.error(f"--file {args.file}: {e}")
    lines = [x for x in text.split("\n") if x.strip()]
    if not lines:
        ap.error(f"--file {args.file} has no non-empty line")
    try:
        model = load_model(args.model, args.family)
    except ModelDirectoryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    def progress(done: int, total: int) -> None:
        if done % 25 == 0 or done == total:
            print(f"  {done}/{total} sentences", file=sys.stderr, flush=True)

    result: dict = {}
    if args.sentences:
        sentences = sample_sentences(lines, args.sentences, args.seed)
        result = evaluate(model.engine, sentences, progress=progress,
                          keystrokes=not args.next_word_only)
    result.update(model=str(args.model), family=model.family, file=str(args.file),
                  seed=args.seed)
    print(f"model {args.model} ({model.family})  file {args.file}")
    if args.sentences:
        print(format_report(result))
    if args.bpc_lines >= 0:
        bpc_lines = lines if args.bpc_lines == 0 else lines[: args.bpc_lines]
        result["bpc_file"] = {"lines": len(bpc_lines),
                              "bpc": bits_per_char(model.engine.lm, model.engine.tok, bpc_lines)}
        print(f"BPC (file) {result['bpc_file']['bpc']:.4f}  over {len(bpc_lines)} lines, "
              "each scored as a whole sentence")
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
