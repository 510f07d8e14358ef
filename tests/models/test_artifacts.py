import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models import artifacts
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


def test_a_writer_as_a_context_abandons_any_version_it_did_not_publish(tmp_path):
    out = tmp_path / "m"
    first = _publish(out, "v1", ngram__probs2_npy=b"\x02" * 100)
    with (pytest.raises(RuntimeError, match="halfway"),
          ModelWriter(out, base=first) as w):
        w.path("lstm/model.safetensors").write_bytes(b"half")
        raise RuntimeError("halfway")
    with ModelWriter(out) as w:
        w.path("tokenizer.model").write_text("never published")
    assert out.resolve() == first and not list((tmp_path / ".m.versions").glob("tmp-*"))
    with ModelWriter(out, base=first) as w:
        w.path("tokenizer.model").write_text("v2")
        second = w.publish()
    assert out.resolve() == second and (out / "tokenizer.model").read_text() == "v2"
    verify_files(second, read_manifest(second), read_manifest(second)["files"])


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


def _publish(out: Path, text: str, base: Path | None = None, **files: bytes) -> Path:
    """A version with a tokenizer.model of ``text`` and ``files`` (``ngram__probs2_npy``
    is ngram/probs2.npy)."""
    w = ModelWriter(out, base=base)
    w.path("tokenizer.model").write_text(text)
    for name, data in files.items():
        w.path(name.replace("__", "/").replace("_npy", ".npy")).write_bytes(data)
    w.manifest["models"] = {}
    return w.publish()


def test_versions_that_were_current_recently_are_kept(tmp_path, monkeypatch):
    """Replicas keep the version they loaded until told to reload: a training run that
    publishes twice, then another, leaves every version of the last day; beyond it, the
    newest two (and the current one, whatever its age)."""
    out = tmp_path / "m"
    published = [_publish(out, f"v{i}") for i in range(4)]  # two runs of two stages each
    assert all(v.is_dir() for v in published)
    artifacts._prune_versions(out, now=time.time() + artifacts.KEEP_SUPERSEDED_S - 60)
    assert all(v.is_dir() for v in published)  # each was current within the day
    artifacts._prune_versions(out, now=time.time() + artifacts.KEEP_SUPERSEDED_S + 60)
    assert [v.is_dir() for v in published] == [False, False, True, True]
    point_back = out.with_name("m.tmp")
    os.symlink(os.path.relpath(published[2], out.parent), point_back)
    os.replace(point_back, out)  # an operator rolled back to the version before
    _publish(out, "v4")
    os.symlink(os.path.relpath(published[3], out.parent), point_back)
    os.replace(point_back, out)
    artifacts._prune_versions(out, now=time.time() + 10 * artifacts.KEEP_SUPERSEDED_S)
    assert published[3].is_dir() and (out / "tokenizer.model").read_text() == "v3"


def test_files_carried_over_are_verified_not_hashed_again(tmp_path, monkeypatch):
    out = tmp_path / "m"
    first = _publish(out, "가나다 tokenizer", ngram__probs2_npy=b"\x00" * 4096)
    hashed = []
    real = artifacts.sha256_file
    monkeypatch.setattr(artifacts, "sha256_file", lambda p, *a: hashed.append(p.name) or real(p))
    w = ModelWriter(out, base=first)  # a later stage: the neural model beside the n-gram
    w.path("lstm/model.safetensors").write_bytes(b"weights")
    w.manifest["models"]["lstm"] = {"dir": "lstm"}
    second = w.publish()
    assert hashed == ["model.safetensors"]  # only the new file
    old, new = read_manifest(first)["files"], read_manifest(second)["files"]
    assert {k: new[k] for k in old} == old and "lstm/model.safetensors" in new
    verify_files(second, read_manifest(second), new)


def test_a_carried_file_written_again_is_hashed_anew(tmp_path):
    out = tmp_path / "m"
    first = _publish(out, "old tokenizer")
    w = ModelWriter(out, base=first)
    w.path("tokenizer.model").write_text("new tokenizer, same length!")
    second = w.publish()
    m = read_manifest(second)
    assert m["files"]["tokenizer.model"] != read_manifest(first)["files"]["tokenizer.model"]
    verify_files(second, m, m["files"])


@pytest.mark.parametrize("damage", ["flip", "delete"])
def test_a_damaged_file_of_the_previous_version_is_not_carried_over(tmp_path, damage):
    """A file changed since it was published is refused by name; nothing is published and
    no temporary directory is left."""
    out = tmp_path / "m"
    first = _publish(out, "tokenizer", ngram__probs3_npy=b"\x01" * 1000)
    victim = first / "ngram" / "probs3.npy"
    if damage == "flip":
        victim.write_bytes(b"\x01" * 999 + b"\x00")
    else:
        victim.unlink()
    with pytest.raises((ModelDirectoryError, FileNotFoundError), match="probs3.npy"):
        ModelWriter(out, base=first)
    assert out.resolve() == first
    assert not list((tmp_path / ".m.versions").glob("tmp-*"))
