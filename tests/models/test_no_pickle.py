"""Nothing the service loads is unpickled: a model directory whose arrays or weights hold a
pickle (what a tampered or foreign file would carry) is refused, even with its hashes
unchecked. That no code calls a pickle loader at all is ruff's to check (S301, S302 and the
banned torch.load, pickle, joblib... of TID251 in pyproject.toml)."""

from __future__ import annotations

import pickle  # noqa: TID251 - the test writes the pickle the loaders must refuse
import shutil
from pathlib import Path

import numpy as np
import pytest

from models.artifacts import ModelDirectoryError
from models.loading import load_model


class Tripwire:
    """Unpickling this object records that it happened."""

    fired: list[str] = []

    def __reduce__(self):
        return (Tripwire.fired.append, ("unpickled",))


def private_copy(model_dir: Path, dest: Path) -> Path:
    return Path(shutil.copytree(Path(model_dir).resolve(), dest))


def test_ngram_arrays_holding_a_pickle_are_refused(model_dir, tmp_path):
    copy = private_copy(model_dir, tmp_path / "m")
    array = sorted((copy / "ngram").glob("*.npy"))[0]
    np.save(array, np.array([Tripwire()], dtype=object), allow_pickle=True)
    with pytest.raises(ModelDirectoryError, match="cannot load"):
        load_model(copy, "ngram", verify=False)
    assert Tripwire.fired == []


def test_neural_weights_holding_a_pickle_are_refused(rnn_model_dir, tmp_path):
    copy = private_copy(rnn_model_dir, tmp_path / "m")
    weights = next((copy / "lstm").glob("*.safetensors"))
    weights.write_bytes(pickle.dumps(Tripwire()))  # what torch.save would have written
    with pytest.raises(ModelDirectoryError, match="cannot load"):
        load_model(copy, "lstm", verify=False)
    assert Tripwire.fired == []
