import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models.artifacts import ModelDirectoryError, ModelWriter, read_manifest, verify_files
from models.loading import load_model
from models.training import TrainOptions, train_ngram_directory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_model(model_dir, tmp_path) -> Path:
    """A private copy of the session's model directory, safe to damage."""
    out = tmp_path / "model"
    shutil.copytree(model_dir.resolve(), out)
    return out


def test_manifest_describes_the_directory(model_dir):
    m = read_manifest(model_dir)
    assert m["format_version"] == 1 and m["created"]
    assert m["corpus"]["sha256"] and m["corpus"]["lines"] > 1000
    assert m["tokenizer"]["vocab_size"] > 0
    assert m["models"]["ngram"]["config"]["order"] == 4
    assert "tokenizer.model" in m["files"] and "ngram/ngram.json" in m["files"]
    verify_files(model_dir, m, m["files"])


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_a_corrupted_file_is_refused_by_name(fresh_model, damage):
    victim = fresh_model / "ngram" / "probs3.npy"
    data = victim.read_bytes()
    if damage == "flip":
        victim.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    elif damage == "truncate":
        victim.write_bytes(data[: len(data) // 2])
    else:
        victim.unlink()
    with pytest.raises(ModelDirectoryError, match="probs3.npy"):
        load_model(fresh_model, "ngram")


def test_a_corrupted_manifest_or_tokenizer_is_refused(fresh_model):
    (fresh_model / "tokenizer.model").write_bytes(b"not a model")
    with pytest.raises(ModelDirectoryError, match="tokenizer.model"):
        load_model(fresh_model)
    (fresh_model / "manifest.json").write_text("{oops")
    with pytest.raises(ModelDirectoryError, match="manifest.json"):
        load_model(fresh_model)


def test_a_missing_directory_or_family_says_so(tmp_path, model_dir):
    with pytest.raises(ModelDirectoryError, match="no manifest"):
        load_model(tmp_path)
    with pytest.raises(ModelDirectoryError, match="no 'lstm' model"):
        load_model(model_dir, "lstm")


def test_publish_replaces_the_previous_version_in_one_step(tmp_path):
    out = tmp_path / "m"
    for text in ("first", "second"):
        w = ModelWriter(out)
        w.path("tokenizer.model").write_text(text)
        w.manifest["models"] = {}
        w.publish()
        assert (out / "tokenizer.model").read_text() == text
    assert out.is_symlink()
    # no temporaries are left behind and old versions are bounded
    versions = list((tmp_path / ".m.versions").iterdir())
    assert not [v for v in versions if v.name.startswith("tmp-")] and len(versions) <= 2


def test_a_failing_training_run_leaves_the_previous_model(sample_corpus, tmp_path, monkeypatch):
    out = tmp_path / "m"
    train_ngram_directory(TrainOptions(corpus=sample_corpus, out=out, order=2, progress=False))
    before = read_manifest(out)

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("models.ngram.NgramModel.save", explode)
    with pytest.raises(OSError):
        train_ngram_directory(TrainOptions(corpus=sample_corpus, out=out, order=3,
                                           progress=False))
    assert read_manifest(out) == before
    assert load_model(out).engine.complete("나는 밥을 ", k=1)
    assert not list((tmp_path / ".m.versions").glob("tmp-*"))


def test_a_killed_training_run_leaves_the_previous_model(sample_corpus, tmp_path):
    out = tmp_path / "m"
    train_ngram_directory(TrainOptions(corpus=sample_corpus, out=out, order=2, progress=False))
    before = read_manifest(out)
    big = tmp_path / "big.txt"  # long enough to be killed in the middle
    lines = sample_corpus.read_text(encoding="utf-8").splitlines()
    big.write_text("\n".join(f"{line} {i}" for i in range(60) for line in lines),
                   encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "train.py"), "--corpus",
                             str(big), "--out", str(out), "--arch", "none", "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300  # a loaded machine can be slow; the kill is the point
    try:
        while not list((tmp_path / ".m.versions").glob("tmp-*/tokenizer.model")):
            assert proc.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert read_manifest(out) == before
    m = load_model(out)  # verifies every hash
    assert m.engine.complete("나는 밥을 ", k=1)
