"""scripts/train.py --holdout, as `make model` builds the default model: every N-th line of
the corpus held out, the neural model stopped and the interpolation tuned on those lines,
each model's held-out BPC in the manifest and printed, the better model served."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import pytest

from models.artifacts import read_manifest
from models.evaluation import bits_per_char
from models.families import served_family
from models.loading import load_model
from models.ngram import NgramModel
from models.ngram_builder import build_ngram
from models.tokenizer import Tokenizer

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("train_script", ROOT / "scripts" / "train.py")
train_script = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(train_script)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """240 short lines, Korean (unspaced and spaced, ㅋㅋ) and English, written here."""
    who = ["나는", "친구는", "엄마는", "동생이랑", "우리는", "철수와 영희는"]
    food = ["밥을", "사과를", "라면을", "김밥을", "치킨을"]
    done = ["먹었다", "먹었어ㅋㅋ", "먹고잤다", "먹으러 갔다"]
    ko = [" ".join(p) for p in itertools.product(who, food, done)][:200]
    en = [f"{a} {b} {c}" for a, b, c in itertools.product(
        ["I", "we", "my friend"], ["ate", "bought", "cooked", "wanted"],
        ["pizza today", "an apple", "ramen last night"])][:40]
    lines = [x for pair in itertools.zip_longest(ko, en) for x in pair if x]
    path = tmp_path_factory.mktemp("holdout") / "tiny.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A directory trained with --holdout 6 and a tiny LSTM, and what train.py printed."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("m") / "default"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert train_script.main(
            ["--corpus", str(corpus), "--out", str(out), "--holdout", "6", "--order", "3",
             "--embed-dim", "16", "--hidden-size", "32", "--epochs", "3", "--batch-tokens",
             "512", "--threads", "1", "--bf16", "off", "--no-progress"]) == 0
    return out, printed.getvalue()


def test_every_nth_line_is_held_out_and_never_trained_on(corpus, trained):
    out, _ = trained
    lines = corpus.read_text(encoding="utf-8").splitlines()
    held = lines[5::6]
    manifest = read_manifest(out)
    c = manifest["corpus"]
    assert c["name"] == "tiny.txt" and c["held_out"] == {"every": 6, "lines": len(held)}
    assert c["lines"] == len(lines) - len(held)
    assert c["chars"] == sum(len(x) for i, x in enumerate(lines) if (i + 1) % 6)
    # the n-gram's figure is the held-out lines' BPC, and those lines were not counted:
    # the trained 3-gram gives a held-out line less than the same model trained with it
    tok = Tokenizer(out / "tokenizer.model")
    ngram = NgramModel.load(out / "ngram")
    assert manifest["models"]["ngram"]["validation"]["bpc"] == pytest.approx(
        bits_per_char(ngram, tok, held))
    seen = build_ngram(tok.encode_batch(lines), tok.vocab_size, tok.bos_id, tok.eos_id,
                       ngram.config)
    assert bits_per_char(seen, tok, held) < bits_per_char(ngram, tok, held)
    assert not (out.parent / ".default.holdout").exists()  # the split is removed


def test_the_neural_model_and_the_mixture_are_measured_on_the_held_out_lines(corpus, trained):
    out, printed = trained
    lines = corpus.read_text(encoding="utf-8").splitlines()
    held = lines[5::6]
    manifest = read_manifest(out)
    lstm = manifest["models"]["lstm"]
    mix = lstm["interpolation"]
    assert mix["valid"]["lines"] == len(held) and 0 < mix["weight"] <= 1
    assert mix["valid"]["ngram_bpc"] == pytest.approx(
        manifest["models"]["ngram"]["validation"]["bpc"])
    # the best epoch's BPC is the one kept, and it is the published model's on those lines
    history = [h["valid_bpc"] for h in lstm["report"]["history"]]
    assert lstm["validation"]["bpc"] == pytest.approx(min(history))
    neural = load_model(out, "lstm").engine
    assert bits_per_char(neural.lm, neural.tok, held) == pytest.approx(
        lstm["validation"]["bpc"], rel=1e-3)
    assert mix["valid"]["mixture_bpc"] <= mix["valid"]["neural_bpc"] + 1e-9  # λ=1 is a choice
    # train.py prints each model's held-out BPC and marks the one the service serves
    served = served_family(manifest)
    assert "every 6th line of tiny.txt held out" in printed
    for name, bpc in [("ngram", mix["valid"]["ngram_bpc"]), ("lstm", lstm["validation"]["bpc"]),
                      ("lstm+ngram", mix["valid"]["mixture_bpc"])]:
        row = next(r for r in printed.splitlines() if r.split()[:1] == [name])
        assert f"{bpc:.4f}" in row and row.endswith("<- served") == (name == served)


def test_the_service_serves_the_mixture_where_it_measured_better(trained):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.app.helpers import make_settings, wait_for

    out, _ = trained
    mix = read_manifest(out)["models"]["lstm"]["interpolation"]["valid"]
    expected = "lstm+ngram" if mix["mixture_bpc"] < mix["neural_bpc"] else "lstm"
    app = create_app(make_settings(out))
    with TestClient(app) as client:
        wait_for(lambda: app.state.service.snapshot.pending is None, "the recurrent model")
        r = client.post("/complete", json={"text": "철수와 영희는 사과를 머", "k": 3})
        assert r.status_code == 200 and r.json()["model"] == expected
        p = client.post("/probability", json={"text": "철수와 영희는", "next": "사과를"})
        assert p.status_code == 200 and p.json()["model"] == expected


@pytest.mark.parametrize("bad", [["--holdout", "1"], ["--holdout", "-3"],
                                 ["--holdout", "5", "--valid", "CORPUS"]])
def test_a_holdout_that_cannot_work_is_refused_before_any_training(bad, corpus, tmp_path,
                                                                   capsys):
    argv = ["--corpus", str(corpus), "--out", str(tmp_path / "m"), "--arch", "none",
            *(str(corpus) if x == "CORPUS" else x for x in bad)]
    with pytest.raises(SystemExit) as e:
        train_script.main(argv)
    assert e.value.code == 2 and "--holdout N" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_corpus_too_short_to_hold_out_from_says_so(tmp_path):
    from models.training import TrainOptions, hold_out

    short = tmp_path / "two.txt"
    short.write_text("나는 밥을 먹었다\nhello there\n", encoding="utf-8")
    with pytest.raises(ValueError, match="too few lines to hold out every 5th"):
        hold_out(TrainOptions(corpus=short, out=tmp_path / "m", holdout=5))
