"""Shared fixtures: a tiny model directory trained once per session from the bundled corpus."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample_corpus.txt"
NSMC = ROOT.parent / "shared" / "data" / "nsmc"

sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def sample_corpus() -> Path:
    """The bundled sample corpus (Korean, English, mixed; written by the project)."""
    return SAMPLE


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory (tokenizer + 4-gram) trained on the sample corpus."""
    from models.training import TrainOptions, train_ngram_directory

    out = tmp_path_factory.mktemp("model") / "sample"
    train_ngram_directory(TrainOptions(corpus=SAMPLE, out=out, order=4, progress=False))
    return out


@pytest.fixture(scope="session")
def engine(model_dir: Path):
    """A completion engine over the n-gram model of ``model_dir``."""
    from models.loading import load_model

    return load_model(model_dir, "ngram").engine


def nsmc_file(name: str) -> Path:
    """A file of the shared NSMC corpus, or skip the test with the reason."""
    path = NSMC / name
    if not path.is_file():
        pytest.skip(f"{path} is absent: the shared NSMC corpus is needed for this test")
    return path
