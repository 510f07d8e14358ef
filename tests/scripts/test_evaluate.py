"""scripts/evaluate.py as a user runs it: a real model directory, a text file, a subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from models.evaluation import bits_per_char
from models.loading import load_model

ROOT = Path(__file__).resolve().parents[2]
LINES = ["나는 밥을 먹었다", "오늘 영화 진짜 재밌었다 ㅋㅋ", "밥먹고영화봤다", "this movie is good"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate.py"), *args],
                          capture_output=True, text=True, timeout=300)


def measure(model_dir: Path, text: Path, sentences: int, *more: str) -> tuple[str, dict]:
    """evaluate.py's printed report and its JSON figures."""
    out = text.parent / "r.json"
    done = run("--model", str(model_dir), "--file", str(text), "--sentences", str(sentences),
               "--json", str(out), *more)
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(out.read_text())


@pytest.fixture()
def text(tmp_path: Path) -> Path:
    path = tmp_path / "test.txt"
    path.write_text("\n".join(LINES) + "\n\n", encoding="utf-8")
    return path


def test_accuracy_keystrokes_and_bpc_of_a_file(model_dir, text):
    _, r = measure(model_dir, text, 3)
    assert r["sentences"] == 3 and r["family"] == "ngram"
    assert 0 <= r["next_word"]["hit@1"] <= r["next_word"]["hit@3"] <= 1
    assert 0 < r["ksr_keys"]["ksr"] < r["ksr_keys"]["oracle"]
    engine = load_model(model_dir, "ngram").engine
    assert r["bpc_file"] == {"lines": 4, "bpc": pytest.approx(
        bits_per_char(engine.lm, engine.tok, LINES), rel=1e-9)}


def test_next_word_only_skips_the_keystrokes_and_keeps_the_same_hits(model_dir, text):
    _, full = measure(model_dir, text, 4)
    stdout, fast = measure(model_dir, text, 4, "--next-word-only", "--bpc-lines", "-1")
    assert fast["next_word"] == full["next_word"]
    assert not {"prefix", "ksr", "ksr_keys", "bpc_file"} & fast.keys()
    hits = round(full["next_word"]["hit@1"] * full["next_word"]["positions"])
    assert f"({hits})" in stdout and "KSR" not in stdout


def test_no_sample_gives_the_bpc_of_the_file_alone(model_dir, text):
    stdout, r = measure(model_dir, text, 0)
    assert "next_word" not in r and r["bpc_file"]["lines"] == 4 and r["bpc_file"]["bpc"] > 0
    assert "BPC (file)" in stdout and "hit@1" not in stdout


@pytest.mark.parametrize("args, says", [
    (["--sentences", "-1"], "--sentences must be >= 0"),
    (["--sentences", "0", "--bpc-lines", "-1"], "nothing to measure"),
    (["--file", "missing.txt"], "missing.txt"),
    (["--file", "EMPTY"], "has no non-empty line"),
])
def test_bad_arguments_are_refused_with_a_message(model_dir, text, tmp_path, args, says):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    args = [str(empty) if a == "EMPTY" else str(tmp_path / a) if a == "missing.txt" else a
            for a in args]
    if "--file" not in args:
        args = ["--file", str(text), *args]
    done = run("--model", str(model_dir), *args)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr
