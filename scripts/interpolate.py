"""Tune the weight that interpolates a directory's neural model with its n-gram on
validation text, and publish the directory again with it (for a directory trained
before ``train.py`` did this itself).

    python scripts/interpolate.py --model models-data/nsmc-gru --valid valid.txt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models.artifacts import ModelDirectoryError, ModelWriter, read_manifest
from models.families import served_family
from models.loading import load_model
from models.training import interpolation, sample_lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--valid", type=Path, required=True)
    ap.add_argument("--family", default="lstm")
    ap.add_argument("--valid-lines", type=int, default=5000)
    args = ap.parse_args(argv)
    try:
        published = args.model.resolve()
        loaded = load_model(published, args.family)
    except ModelDirectoryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    entry = interpolation(loaded.engine.lm, published, loaded.engine.tok,
                          sample_lines(args.valid, args.valid_lines), args.valid)
    with ModelWriter(args.model, base=published) as writer:
        writer.manifest["models"][args.family]["interpolation"] = entry
        writer.publish()
    print(f"published {args.model} -> {args.model.resolve()}; serves "
          f"{served_family(read_manifest(args.model))}")
    print(read_manifest(args.model)["models"][args.family]["interpolation"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
