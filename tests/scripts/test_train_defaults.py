"""scripts/train.py takes its defaults from the library's option classes: a flag left out
trains as the library would with the field left out."""

from __future__ import annotations

import importlib.util
from dataclasses import fields
from pathlib import Path

from models.neural_training import NeuralTrainConfig
from models.training import NeuralOptions, TrainOptions

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("train_script", ROOT / "scripts" / "train.py")
train_script = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(train_script)


def test_every_flag_left_out_has_the_default_of_its_field(sample_corpus, tmp_path):
    args = vars(train_script.parse(["--corpus", str(sample_corpus), "--out", str(tmp_path)]))
    library = {"corpus": sample_corpus, "out": tmp_path}
    for options in (TrainOptions(corpus=sample_corpus, out=tmp_path), NeuralOptions(),
                    NeuralTrainConfig()):
        library |= {f.name: getattr(options, f.name) for f in fields(options)}
    # --bf16 auto is the command line's own: bfloat16 where the hardware has it (the
    # library trains in float32 unless asked), and the manifest records what it chose
    shared = sorted(set(args) & set(library) - {"corpus", "out", "bf16"})
    assert {"valid_lines", "order", "prune", "arch", "embed_dim", "cutoffs", "div_value",
            "epochs", "batch_tokens", "lr", "checkpoint_minutes"} <= set(shared)
    assert {name: args[name] for name in shared} == {name: library[name] for name in shared}
