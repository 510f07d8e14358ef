"""The training policy without training: the learning-rate schedule, the end-of-epoch
decisions (best model, annealing, early stopping, the time budget), the progress a
checkpoint keeps (old checkpoints included), and the sizes chosen by corpus size."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from models.neural import NeuralConfig, NeuralLMModule
from models.neural_training import (
    LR_ANNEAL,
    LR_FLOOR,
    NeuralTrainConfig,
    TrainingProgress,
    learning_rate,
    load_checkpoint,
    run_fraction,
    save_checkpoint,
)
from models.training import (
    LARGE_CORPUS,
    LARGE_CORPUS_TOKENS,
    SMALL_CORPUS,
    NeuralOptions,
    corpus_sizes,
    neural_config,
    train_config,
)


def test_the_learning_rate_falls_along_a_cosine_from_the_peak_to_its_floor():
    assert learning_rate(0.01, 0.0) == pytest.approx(0.01)
    assert learning_rate(0.01, 0.5) == pytest.approx(0.01 * (LR_FLOOR + (1 - LR_FLOOR) / 2))
    assert learning_rate(0.01, 1.0) == pytest.approx(0.01 * LR_FLOOR)
    steps = [learning_rate(0.01, i / 20) for i in range(21)]
    assert all(a > b for a, b in zip(steps, steps[1:], strict=False))
    # a quarter of the way the cosine has lost less than a quarter of its range
    assert learning_rate(0.01, 0.25) > 0.01 * (1 - 0.25 * (1 - LR_FLOOR))


def test_past_the_end_of_the_run_the_learning_rate_stays_at_its_floor():
    assert learning_rate(0.01, 1.7) == learning_rate(0.01, 1.0)


def test_the_annealing_scales_the_whole_schedule():
    for done in (0.0, 0.3, 0.9):
        assert learning_rate(0.01, done, LR_ANNEAL ** 2) == pytest.approx(
            learning_rate(0.01, done) * LR_ANNEAL ** 2)


def test_the_run_ends_with_the_time_budget_or_the_epochs_whichever_comes_first():
    assert run_fraction(60, 600, 100, 1000) == pytest.approx(0.1)
    assert run_fraction(300, 600, 100, 1000) == pytest.approx(0.5)  # time runs out first
    assert run_fraction(60, 600, 800, 1000) == pytest.approx(0.8)  # the epochs end first
    assert math.isclose(run_fraction(900, 600, 0, 1000), 1.5)


def test_a_better_epoch_is_the_best_and_the_next_epoch_starts_at_its_first_batch():
    progress = TrainingProgress(batch=40)
    assert progress.end_epoch(3.0, out_of_time=False, patience=1)
    assert progress.end_epoch(2.5, out_of_time=False, patience=1)
    assert (progress.best_bpc, progress.bad_epochs, progress.lr_scale) == (2.5, 0, 1.0)
    assert (progress.epoch, progress.batch, progress.done) == (2, 0, False)


def test_a_worse_epoch_anneals_and_more_than_patience_of_them_stop_the_run():
    progress = TrainingProgress()
    progress.end_epoch(3.0, out_of_time=False, patience=2)
    assert not progress.end_epoch(3.1, out_of_time=False, patience=2)
    assert (progress.best_bpc, progress.bad_epochs, progress.lr_scale) == (3.0, 1, LR_ANNEAL)
    assert not progress.end_epoch(3.0, out_of_time=False, patience=2)  # equal is no gain
    assert not progress.done and progress.lr_scale == LR_ANNEAL ** 2
    assert not progress.end_epoch(3.2, out_of_time=False, patience=2)
    assert progress.done and progress.bad_epochs == 3 and progress.epoch == 4


def test_a_gain_after_a_worse_epoch_resets_the_patience_but_keeps_the_slower_rate():
    progress = TrainingProgress()
    for bpc in (3.0, 3.5, 2.9):
        progress.end_epoch(bpc, out_of_time=False, patience=1)
    assert (progress.best_bpc, progress.bad_epochs, progress.lr_scale) == (2.9, 0, LR_ANNEAL)
    assert not progress.end_epoch(3.0, out_of_time=False, patience=1)
    assert not progress.done  # one bad epoch in a row is within a patience of 1


def test_without_validation_every_epoch_is_the_best_and_only_the_epochs_end_the_run():
    progress = TrainingProgress()
    for _ in range(5):
        assert progress.end_epoch(None, out_of_time=False, patience=0)
    assert (progress.best_bpc, progress.epoch, progress.done) == (None, 5, False)


def test_an_epoch_cut_by_the_time_budget_ends_the_run_where_it_stopped():
    progress = TrainingProgress(epoch=3, batch=17)
    assert progress.end_epoch(2.0, out_of_time=True, patience=5)
    assert (progress.epoch, progress.batch, progress.done) == (3, 17, True)


def tiny_checkpoint(path, progress: TrainingProgress) -> None:
    torch.manual_seed(0)
    module = NeuralLMModule(NeuralConfig(arch="gru", vocab_size=30, embed_dim=4, hidden_size=6,
                                         cutoffs=[]))
    opt = torch.optim.AdamW(module.parameters())
    module(torch.tensor([[1, 5, 6]]), torch.tensor([[5, 6, 2]])).backward()
    opt.step()
    save_checkpoint(path, module, opt, progress)


def test_the_progress_comes_back_from_a_checkpoint(tmp_path):
    progress = TrainingProgress(epoch=2, batch=3, seconds=12.5, tokens=900, best_bpc=4.25,
                                bad_epochs=1, lr_scale=LR_ANNEAL, history=[
                                    {"epoch": 1.0, "valid_bpc": 4.25, "minutes": 0.1}])
    tiny_checkpoint(tmp_path / "ck.safetensors", progress)
    module, opt_state, back = load_checkpoint(tmp_path / "ck.safetensors", torch.device("cpu"))
    assert back == progress and opt_state["state"] and module.cfg.hidden_size == 6


@pytest.mark.parametrize("lr_scale", [None, 0.25])
def test_a_checkpoint_of_the_older_progress_dict_still_resumes(tmp_path, lr_scale):
    """Before TrainingProgress the progress was a dict whose lr_scale appeared with the
    first epoch that did not improve."""
    path = tmp_path / "ck.safetensors"
    tiny_checkpoint(path, TrainingProgress())
    old = {"epoch": 1, "batch": 0, "seconds": 3.5, "tokens": 400, "best_bpc": 5.0,
           "bad_epochs": 0, "history": [{"epoch": 1.0, "valid_bpc": 5.0, "minutes": 0.06}],
           "done": False} | ({} if lr_scale is None else {"lr_scale": lr_scale})
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    save_file(load_file(str(path)), str(path), metadata=meta | {"progress": json.dumps(old)})
    _, _, progress = load_checkpoint(path, torch.device("cpu"))
    assert progress.lr_scale == (1.0 if lr_scale is None else lr_scale)
    assert (progress.epoch, progress.tokens, progress.best_bpc) == (1, 400, 5.0)
    assert progress.history == old["history"] and progress.seconds == 3.5


VOCAB = SimpleNamespace(vocab_size=8000, bos_id=1, eos_id=2)


@pytest.mark.parametrize("tokens", [LARGE_CORPUS_TOKENS, LARGE_CORPUS_TOKENS + 1])
def test_sizes_left_open_are_chosen_by_corpus_size(tokens):
    sizes = LARGE_CORPUS if tokens > LARGE_CORPUS_TOKENS else SMALL_CORPUS
    assert corpus_sizes(tokens) == sizes
    cfg = neural_config(NeuralOptions(arch="gru"), tokens, VOCAB)
    assert (cfg.embed_dim, cfg.hidden_size, cfg.cutoffs) == (
        sizes.embed_dim, sizes.hidden_size, list(sizes.cutoffs))
    assert cfg.tie_weights == (not sizes.cutoffs) and cfg.arch == "gru"
    assert train_config(NeuralOptions(), tokens).batch_tokens == sizes.batch_tokens


def test_sizes_given_are_kept_and_the_options_are_not_changed():
    options = NeuralOptions(embed_dim=24, hidden_size=48, cutoffs=[],
                            train=NeuralTrainConfig(epochs=3))
    cfg = neural_config(options, LARGE_CORPUS_TOKENS * 2, VOCAB)
    assert (cfg.embed_dim, cfg.hidden_size, cfg.cutoffs, cfg.tie_weights) == (24, 48, [], True)
    training = train_config(options, LARGE_CORPUS_TOKENS * 2)
    assert training.batch_tokens == LARGE_CORPUS.batch_tokens and training.epochs == 3
    assert options.train.batch_tokens is None  # the caller's options are left as they were
    assert train_config(NeuralOptions(train=NeuralTrainConfig(batch_tokens=300)),
                        10).batch_tokens == 300


def test_cutoffs_asked_for_untie_the_weights_even_where_none_fits_the_vocabulary():
    cfg = neural_config(NeuralOptions(cutoffs=[9000]), 10, VOCAB)
    assert cfg.cutoffs == [] and not cfg.tie_weights
