"""Shared fixtures: a tiny model directory trained once per session from the bundled corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.training import TrainOptions, train_ngram_directory

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample_corpus.txt"
NSMC = ROOT.parent / "shared" / "data" / "nsmc"


@pytest.fixture(scope="session")
def sample_corpus() -> Path:
    """The bundled sample corpus (Korean, English, mixed; written by the project)."""
    return SAMPLE


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory (tokenizer + 4-gram) trained on the sample corpus."""
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


@pytest.fixture(scope="session")
def rnn_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory with a 4-gram and a tiny LSTM beside it, from the sample corpus."""
    from models.neural_training import NeuralTrainConfig
    from models.training import NeuralOptions, TrainOptions, train_neural_directory

    out = tmp_path_factory.mktemp("rnn") / "sample-lstm"
    train_ngram_directory(TrainOptions(corpus=SAMPLE, out=out, order=4, progress=False))
    tcfg = NeuralTrainConfig(epochs=2, batch_tokens=1024, max_minutes=2, threads=1)
    nopts = NeuralOptions(arch="lstm", embed_dim=32, hidden_size=64, cutoffs=[], train=tcfg,
                          interpolate=False)  # the service tests want the plain LSTM
    train_neural_directory(TrainOptions(corpus=SAMPLE, out=out, valid=SAMPLE, valid_lines=200,
                                        progress=False), nopts)
    return out


def tiny_neural(arch: str, corpus: Path, out: Path, **train: object) -> Path:
    """Train the tokenizer, a 2-gram and a tiny ``arch`` model on ``corpus`` into ``out``."""
    from models.neural_training import NeuralTrainConfig
    from models.training import NeuralOptions, train_neural_directory

    opts = TrainOptions(corpus=corpus, out=out, order=2, progress=False)
    train_ngram_directory(opts)
    tcfg = NeuralTrainConfig(**{"epochs": 1, "batch_tokens": 1024, "threads": 1} | train)
    nopts = NeuralOptions(arch=arch, embed_dim=16, hidden_size=32, cutoffs=[], train=tcfg)
    train_neural_directory(opts, nopts)
    return out
