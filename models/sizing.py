"""The recurrent model's width for a time budget: what the hour can teach on this CPU.

A time budget buys tokens, not epochs. The same 58 minutes show NSMC to the GRU 256/512 of
``make nsmc`` 3.7 times on a CPU with AVX512-BF16 and 0.9 times on one with AVX2 alone,
where that model ends the hour worse than the 5-gram beside it. A narrower model costs
fewer multiplications a token and sees the corpus more often in the same minutes; below a
certain number of passes that wins (docs/training.md, "An hour on any CPU", has the runs).
So, asked to (``scripts/train.py --fit-budget``), training measures before it starts::

    candidates   the requested hidden size, 3/4 of it, 1/2 of it      (512, 384, 256)
    measure      a few real steps of each on the corpus's own batches: tokens/s
                 (under torchrun every rank measures; the slowest rank counts, times ranks)
    choose       the widest candidate whose budget x speed covers MIN_EPOCHS passes;
                 none does: the narrowest

``choose_hidden`` is a pure function of the measured speeds, so the choice is the same
wherever the same speeds are measured, and the manifest records both.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from models.neural import NeuralConfig, NeuralLMModule
from models.neural_training import (
    NeuralTrainConfig,
    distributed,
    set_training_threads,
    training_device,
    world,
)
from models.token_store import TokenStore, collate, make_batches

MIN_EPOCHS = 2.0  # passes over the corpus below which a narrower model learns more
FRACTIONS = (1.0, 0.75, 0.5)  # of the requested hidden size, widest first
ROUND_TO = 32  # hidden sizes stay multiples of this (the matmul kernels' blocks)
MEASURE_STEPS = 4  # timed steps a candidate, after one step of warm-up


def candidates(hidden_size: int) -> list[int]:
    """The hidden sizes tried for a requested one, widest first, without repeats."""
    sizes: list[int] = []
    for f in FRACTIONS:
        h = max(ROUND_TO, int(round(hidden_size * f / ROUND_TO)) * ROUND_TO)
        if h not in sizes:
            sizes.append(h)
    return sizes


@dataclass(frozen=True)
class Choice:
    """The hidden size chosen, and what it was chosen from (kept in the manifest)."""

    hidden_size: int
    tokens_per_second: dict[int, float]  # measured, all ranks together
    budget_seconds: float
    epoch_tokens: int
    min_epochs: float
    measured_seconds: float = field(default=0.0, compare=False)  # what measuring took

    def epochs(self, hidden_size: int) -> float:
        """Passes over the corpus the budget buys at ``hidden_size``'s measured speed."""
        return self.tokens_per_second[hidden_size] * self.budget_seconds / self.epoch_tokens

    def report(self) -> dict[str, Any]:
        return {"hidden_size": self.hidden_size, "budget_seconds": round(self.budget_seconds, 1),
                "measured_seconds": round(self.measured_seconds, 1),
                "epoch_tokens": self.epoch_tokens, "min_epochs": self.min_epochs,
                "measured": {str(h): {"tokens_per_second": round(s),
                                      "epochs_in_budget": round(self.epochs(h), 2)}
                             for h, s in self.tokens_per_second.items()}}


def choose_hidden(tokens_per_second: dict[int, float], budget_seconds: float,
                  epoch_tokens: int, min_epochs: float = MIN_EPOCHS) -> Choice:
    """The widest hidden size whose measured speed shows the corpus ``min_epochs`` times
    within the budget; where none does, the narrowest. Same speeds, same choice."""
    if not tokens_per_second or budget_seconds <= 0 or epoch_tokens <= 0:
        raise ValueError("choose_hidden needs measured speeds, a budget and a corpus")
    widest_first = sorted(tokens_per_second, reverse=True)
    pick = next((h for h in widest_first
                 if tokens_per_second[h] * budget_seconds >= min_epochs * epoch_tokens),
                widest_first[-1])
    return Choice(pick, dict(tokens_per_second), budget_seconds, epoch_tokens, min_epochs)


def measure_speed(cfg: NeuralConfig, batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
                  lr: float, weight_decay: float, clip: float, bf16: bool,
                  device: torch.device) -> float:
    """Tokens a second of full training steps (forward, backward, clipping, AdamW; under
    torchrun with the gradients' all-reduce, as in training) of a fresh model of ``cfg``
    on ``batches``: the first is warm-up, the rest are timed."""
    torch.manual_seed(0)
    module = NeuralLMModule(cfg).to(device).train()
    model = distributed(module, device)
    opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    if not batches:
        raise ValueError("no batch to measure a training step on")
    tokens, seconds = 0, 0.0
    # the first step pays for allocation and kernel choice: warm-up, then the rest timed
    for i, (x, y) in enumerate([batches[0], *(batches[1:] or batches[:1])]):
        x, y = x.to(device), y.to(device)
        n = int((y != -100).sum())
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            nll = model(x, y)
        opt.zero_grad(set_to_none=True)
        (nll / n).backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), clip)
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i:
            tokens, seconds = tokens + n, seconds + time.perf_counter() - t0
    return tokens / max(seconds, 1e-9)


def measure_candidates(cfg: NeuralConfig, sizes: Sequence[int],
                       batches: Sequence[tuple[torch.Tensor, torch.Tensor]], lr: float,
                       weight_decay: float, clip: float, bf16: bool,
                       device: torch.device) -> dict[int, float]:
    """Tokens a second of every size, for all ranks together: under torchrun each rank
    measures at once (as they will train, sharing the machine), the slowest counts."""
    speeds = np.array([measure_speed(replace(cfg, hidden_size=h), batches, lr, weight_decay,
                                     clip, bf16, device) for h in sizes], dtype=np.float64)
    ranks = world()[1]
    if ranks > 1:
        box = torch.from_numpy(speeds).to(device if device.type == "cuda" else "cpu")
        dist.all_reduce(box, op=dist.ReduceOp.MIN)
        speeds = box.cpu().numpy()
    return {h: float(s) * ranks for h, s in zip(sizes, speeds, strict=True)}


def fit_to_budget(cfg: NeuralConfig, config: NeuralTrainConfig, store: TokenStore
                  ) -> tuple[NeuralConfig, NeuralTrainConfig, Choice]:
    """``cfg`` with the hidden size ``config``'s time budget can train on ``store``, and
    ``config`` with the minutes the measurement took taken off its budget (the same on
    every rank, so that every rank stops at the same step)."""
    if not config.batch_tokens:
        raise ValueError("batch_tokens is not set (models.training sizes it by corpus)")
    rank, size = world()
    device = training_device(config.device, size)
    set_training_threads(config.threads, size)
    started = time.monotonic()
    order = make_batches(store, config.batch_tokens, config.max_len,
                         np.random.default_rng(config.seed))
    # as many batches on every rank (each step's all-reduce needs all of them)
    mine = order[: len(order) // size * size][rank::size][:MEASURE_STEPS + 1] or order[:1]
    sample = [collate(store, idx, cfg, config.max_len) for idx in mine]
    speeds = measure_candidates(cfg, candidates(cfg.hidden_size), sample, config.lr,
                                config.weight_decay, config.clip, config.bf16, device)
    spent = torch.tensor([time.monotonic() - started], dtype=torch.float64)
    if size > 1:  # the slowest rank's minutes, so that all budgets are one
        dist.all_reduce(spent, op=dist.ReduceOp.MAX)
    budget = max(config.max_minutes * 60 - float(spent[0]), 1.0)
    choice = replace(choose_hidden(speeds, budget, store.num_tokens()),
                     measured_seconds=float(spent[0]))
    return (replace(cfg, hidden_size=choice.hidden_size),
            replace(config, max_minutes=budget / 60), choice)
