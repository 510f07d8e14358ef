"""The hidden size a time budget can train: candidates, a deterministic choice, real speeds."""

from __future__ import annotations

import pytest
import torch

from models.neural import NeuralConfig
from models.sizing import MIN_EPOCHS, candidates, choose_hidden, measure_candidates

EPOCH = 10_000_000  # tokens of a corpus like NSMC (10.3M)
HOUR = 58 * 60


def test_candidates_are_the_size_three_quarters_and_half_in_blocks_of_32():
    assert candidates(512) == [512, 384, 256]
    assert candidates(1024) == [1024, 768, 512]
    assert candidates(100) == [96, 64]  # 75 and 50 round to 64: one candidate, not two
    assert candidates(32) == [32]  # never below one block


def test_the_widest_size_that_sees_the_corpus_min_epochs_times():
    # a CPU with bf16: the wide model sees NSMC 3.8 times in the hour, it stays
    fast = {512: 11_000.0, 384: 16_000.0, 256: 24_000.0}
    assert choose_hidden(fast, HOUR, EPOCH).hidden_size == 512
    # AVX2 alone: 0.95 passes of the wide model, 1.4 of 384, 2.1 of 256
    slow = {512: 2_742.0, 384: 4_100.0, 256: 6_000.0}
    choice = choose_hidden(slow, HOUR, EPOCH)
    assert choice.hidden_size == 256 and choice.epochs(256) >= MIN_EPOCHS > choice.epochs(384)
    # slower still: nothing reaches MIN_EPOCHS, the narrowest learns the most
    assert choose_hidden({h: s / 4 for h, s in slow.items()}, HOUR, EPOCH).hidden_size == 256
    # a shorter corpus or a longer budget lets the wide model back in
    assert choose_hidden(slow, 4 * HOUR, EPOCH).hidden_size == 512


def test_the_choice_is_a_function_of_the_measured_speeds():
    slow = {512: 2_742.0, 384: 4_100.0, 256: 6_000.0}
    shuffled = {256: 6_000.0, 512: 2_742.0, 384: 4_100.0}
    a, b = choose_hidden(slow, HOUR, EPOCH), choose_hidden(shuffled, HOUR, EPOCH)
    assert a == b and a.report() == b.report()
    report = a.report()
    assert report["hidden_size"] == 256 and report["measured"]["512"] == {
        "tokens_per_second": 2742, "epochs_in_budget": round(2_742 * HOUR / EPOCH, 2)}
    # exactly at the threshold the wider size is kept
    at = MIN_EPOCHS * EPOCH / HOUR
    assert choose_hidden({512: at, 256: 2 * at}, HOUR, EPOCH).hidden_size == 512
    assert choose_hidden({512: at * 0.999, 256: 2 * at}, HOUR, EPOCH).hidden_size == 256


@pytest.mark.parametrize("speeds,budget,epoch", [({}, HOUR, EPOCH), ({512: 1.0}, 0, EPOCH),
                                                 ({512: 1.0}, HOUR, 0)])
def test_nothing_to_choose_from_is_an_error(speeds, budget, epoch):
    with pytest.raises(ValueError):
        choose_hidden(speeds, budget, epoch)


def test_every_candidate_is_measured_on_real_steps():
    # a tiny GRU on random batches of ids; speeds are figures for the choice, not checked
    # against each other here (bench/train_step.py compares them on a quiet machine)
    torch.manual_seed(0)
    cfg = NeuralConfig(arch="gru", vocab_size=300, embed_dim=32, hidden_size=128,
                       cutoffs=[100, 200])
    batches = [(torch.randint(3, 300, (8, 12)), torch.randint(3, 300, (8, 12)))
               for _ in range(3)]
    speeds = measure_candidates(cfg, candidates(128), batches, lr=1e-3, weight_decay=0.0,
                                clip=1.0, bf16=False, device=torch.device("cpu"))
    assert list(speeds) == [128, 96, 64] and all(0 < s < float("inf") for s in speeds.values())
    assert choose_hidden(speeds, 60.0, 1000).hidden_size in speeds


def test_training_fits_the_budget_and_the_manifest_keeps_the_speeds(sample_corpus, tmp_path):
    from models.artifacts import read_manifest
    from models.neural_training import NeuralTrainConfig
    from models.training import (
        NeuralOptions,
        TrainOptions,
        train_neural_directory,
        train_ngram_directory,
    )

    # the Korean sample corpus; ten hours for one epoch: the requested size sees it twice
    opts = TrainOptions(corpus=sample_corpus, out=tmp_path / "m", order=2, progress=False)
    train_ngram_directory(opts)
    config = NeuralTrainConfig(epochs=1, batch_tokens=1024, threads=1, max_minutes=600)
    train_neural_directory(opts, NeuralOptions(arch="gru", embed_dim=16, hidden_size=64,
                                               cutoffs=[], train=config, fit_budget=True))
    entry = read_manifest(tmp_path / "m")["models"]["gru"]
    fitted = entry["fit_budget"]
    assert fitted["hidden_size"] == entry["config"]["hidden_size"] == 64
    assert set(fitted["measured"]) == {"64", "32"} and fitted["min_epochs"] == MIN_EPOCHS
    assert all(m["tokens_per_second"] > 0 and m["epochs_in_budget"] >= MIN_EPOCHS
               for m in fitted["measured"].values())
    # the minutes spent measuring come off the budget the training had
    assert fitted["measured_seconds"] > 0 and entry["training"]["max_minutes"] == pytest.approx(
        600 - fitted["measured_seconds"] / 60, abs=0.01)
    assert entry["report"]["epochs"] == pytest.approx(1.0, abs=0.01)
