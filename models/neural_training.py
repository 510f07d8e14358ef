"""Training of the neural models, after the tokenizer and n-gram of the same run.

The batches come from ``models/token_store.py`` (every sentence its own sequence,
similar lengths together), the device and whether bfloat16 pays from
``models/devices.py``. Checkpoints are one safetensors file (weights, optimizer moments,
and the ``TrainingProgress`` as JSON metadata) replaced in one rename; ``resume``
continues from the next batch of the same epoch order.

A run (``train_module``) is a loop of epochs. Each step of an epoch trains at the
rate ``learning_rate`` gives for the part of the run behind it (``run_fraction``),
on a clock and a token count all ranks share (``shared_clock``); after the epoch
rank 0 validates, every rank gets its figure (``shared_bpc``), and
``TrainingProgress.end_epoch`` decides: a new best model is saved, a worse epoch
anneals the learning rate, too many of them in a row end the run.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from models.bpc import nats_to_bpc
from models.devices import pick_device
from models.neural import NeuralConfig, NeuralLMModule, weights_to_save
from models.threads import usable_cpus
from models.token_store import TokenStore, collate, make_batches


@dataclass
class NeuralTrainConfig:
    """Optimisation settings; stored in the manifest beside the model config."""

    epochs: int = 10
    max_minutes: float = 60.0
    batch_tokens: int | None = None  # None: by corpus size (models.training.corpus_sizes)
    max_len: int = 96  # longer sentences are cut for training (scored whole at evaluation)
    lr: float = 3e-3
    weight_decay: float = 0.01
    clip: float = 1.0
    patience: int = 1  # epochs without validation gain before stopping
    checkpoint_minutes: float = 5.0
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # 0: all cores
    bf16: bool = False  # autocast matmuls to bfloat16 (CPUs with AVX512-BF16, GPUs)


def batch_nll(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Summed NLL (nats) of the non-pad targets of a batch."""
    return module(x, y)


def world() -> tuple[int, int]:
    """(rank, world size) under torchrun, (0, 1) otherwise."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device: str = "auto") -> tuple[int, int]:
    """Join the process group torchrun describes (gloo on CPU, NCCL on GPU)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if pick_device(device).type == "cuda" else "gloo"
        dist.init_process_group(backend)
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return world()


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if world()[1] > 1:
        dist.barrier()


@torch.inference_mode()
def validation_bpc(module: NeuralLMModule, store: TokenStore, chars: int,
                   device: torch.device, batch_tokens: int = 8192) -> float:
    """Bits per character of the validation sentences (each scored whole)."""
    module.eval()
    nats = 0.0
    batches = make_batches(store, batch_tokens, 10**9, np.random.default_rng(0))
    for idx in batches:
        x, y = collate(store, idx, module.cfg, 10**9)
        nats += float(batch_nll(module, x.to(device), y.to(device)))
    module.train()
    return nats_to_bpc(nats, chars)


# The learning-rate schedule: a half cosine from the peak down to LR_FLOOR of it over the
# run, times LR_ANNEAL for every epoch that did not improve the validation BPC (the
# annealing of pytorch/examples' word_language_model, kept on top of the cosine).
LR_FLOOR = 0.05
LR_ANNEAL = 0.25


def learning_rate(peak: float, done: float, scale: float = 1.0) -> float:
    """The learning rate once ``done`` of the run is behind (0 to 1; more counts as 1):
    ``peak`` at the start, ``LR_FLOOR * peak`` at the end, times ``scale`` (the product of
    the annealings so far)."""
    return peak * scale * (LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (
        1 + math.cos(math.pi * min(done, 1.0))))


def run_fraction(seconds: float, budget_seconds: float, tokens: int,
                 planned_tokens: int) -> float:
    """How much of the run is behind: of the time budget or of the planned epochs'
    tokens, whichever ends first."""
    return max(seconds / budget_seconds, tokens / planned_tokens)


@dataclass
class TrainingProgress:
    """Where a run stands, shared by every rank; saved in each checkpoint for ``resume``."""

    epoch: int = 0  # epochs finished
    batch: int = 0  # batches of this epoch's shard done
    seconds: float = 0.0  # training time (the mean of the ranks' clocks)
    tokens: int = 0  # targets trained on, all ranks together
    best_bpc: float | None = None  # None: no validation text (or no epoch yet)
    bad_epochs: int = 0  # epochs since the best validation BPC
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry an epoch
    done: bool = False
    lr_scale: float = 1.0  # LR_ANNEAL to the power of the epochs that did not improve

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> TrainingProgress:
        """The progress of a checkpoint; those written before ``lr_scale`` was a field hold
        it only after an epoch that did not improve (1.0 otherwise)."""
        return cls(**json.loads(text))

    def end_epoch(self, bpc: float | None, out_of_time: bool, patience: int) -> bool:
        """Take an epoch's validation BPC (None: no validation text) and decide what comes
        next; True when this epoch's model is the best so far (always, without validation).

        An epoch that does not improve anneals the learning rate and counts against
        ``patience``; the run is done after more than ``patience`` such epochs in a row, or
        when the time budget ran out during this epoch (which then stays unfinished)."""
        improved = bpc is None or self.best_bpc is None or bpc < self.best_bpc
        if improved:
            self.best_bpc, self.bad_epochs = bpc, 0
        else:
            self.bad_epochs += 1
            self.lr_scale *= LR_ANNEAL  # one more chance, slower
        if out_of_time:
            self.done = True
        else:
            self.epoch, self.batch = self.epoch + 1, 0
            self.done = self.bad_epochs > patience
        return improved


def save_checkpoint(path: Path, module: NeuralLMModule, opt: torch.optim.Optimizer,
                    progress: TrainingProgress) -> None:
    """Weights, optimizer moments and progress in one file, replaced atomically."""
    tensors = {f"model.{k}": v for k, v in weights_to_save(module).items()}
    state = opt.state_dict()
    for pid, slots in state["state"].items():
        for name, value in slots.items():
            tensors[f"optim.{pid}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    meta = {"progress": progress.to_json(), "param_groups": json.dumps(state["param_groups"]),
            "config": json.dumps(asdict(module.cfg))}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def load_checkpoint(path: Path, device: torch.device) -> tuple[NeuralLMModule, dict[str, Any],
                                                               TrainingProgress]:
    """(module, optimizer state dict, progress) from a checkpoint; never unpickles."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    cfg = NeuralConfig(**json.loads(meta["config"]))
    module = NeuralLMModule(cfg)
    weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    if cfg.tie_weights:
        weights["out.weight"] = weights["embed.weight"]
    module.load_state_dict(weights)
    opt_state: dict[str, Any] = {"state": {}, "param_groups": json.loads(meta["param_groups"])}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            opt_state["state"].setdefault(int(pid), {})[name] = value
    return module.to(device), opt_state, TrainingProgress.from_json(meta["progress"])


def training_device(name: str, processes: int) -> torch.device:
    """The device this process trains on: under torchrun on GPUs, its rank's GPU."""
    device = pick_device(name)
    if device.type == "cuda" and processes > 1:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def set_training_threads(threads: int, processes: int) -> None:
    """Torch's threads for one of ``processes`` training processes: ``threads``, or (0) an
    equal share of the CPUs this process may use."""
    torch.set_num_threads(threads or max(1, usable_cpus() // processes))


def distributed(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` under DistributedDataParallel when torchrun started several ranks (its
    gradients averaged over them at each backward), else ``module`` itself."""
    if world()[1] == 1:
        return module
    return torch.nn.parallel.DistributedDataParallel(
        module, device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=False)  # adaptive_nll keeps an empty cluster in the graph


def shared_clock(seconds: float, tokens: int) -> tuple[float, int]:
    """(seconds, tokens) the same on every rank: the mean of the ranks' clocks and the sum
    of their tokens, so the learning rate and the time budget agree everywhere."""
    shared = torch.tensor([seconds, tokens], dtype=torch.float64)
    size = world()[1]
    if size > 1:
        dist.all_reduce(shared)
        shared[0] /= size
    return float(shared[0]), int(shared[1])


def shared_bpc(bpc: float) -> float:
    """Rank 0's validation BPC on every rank (it alone validates)."""
    if world()[1] == 1:
        return bpc
    box = torch.tensor([bpc], dtype=torch.float64)
    dist.broadcast(box, 0)
    return float(box[0])


def train_module(model_config: NeuralConfig, config: NeuralTrainConfig, train: TokenStore,
                 valid: TokenStore | None, valid_chars: int, checkpoint: Path,
                 resume: bool = False, progress: bool = True) -> tuple[NeuralLMModule | None,
                                                                       dict[str, Any]]:
    """Train (or resume) a model; returns the best module and a training report.

    Under torchrun every rank trains on its own shard of the batches with
    DistributedDataParallel; rank 0 alone validates, checkpoints and returns the
    module (the other ranks return None). Decisions that end an epoch or the run
    are taken from values all ranks share, so no rank waits on a collective alone.
    """
    run = _Run(model_config, config, train, checkpoint, resume, progress)
    state = run.progress
    best = checkpoint.with_name(checkpoint.stem + ".best.safetensors")
    while not state.done and state.epoch < config.epochs:
        out_of_time = run.train_epoch()
        bpc = run.validate(valid, valid_chars)
        run.record_epoch(bpc)
        if state.end_epoch(bpc, out_of_time, config.patience):
            run.save(best)
        run.save(checkpoint)
    if run.rank > 0:
        return None, run.report()
    module = load_checkpoint(best, run.device)[0] if best.is_file() else run.module
    return module.cpu().eval(), run.report()


class _Run:
    """A training run's model, optimizer and progress on this rank, and its epochs."""

    def __init__(self, model_config: NeuralConfig, config: NeuralTrainConfig,
                 train: TokenStore, checkpoint: Path, resume: bool, show_progress: bool):
        if not config.batch_tokens:
            raise ValueError("batch_tokens is not set (models.training sizes it by corpus)")
        self.rank, self.size = world()
        self.device = training_device(config.device, self.size)
        set_training_threads(config.threads, self.size)
        torch.manual_seed(config.seed)
        if resume and checkpoint.is_file():
            self.module, opt_state, self.progress = load_checkpoint(checkpoint, self.device)
        else:
            self.module, opt_state = NeuralLMModule(model_config).to(self.device), None
            self.progress = TrainingProgress()
        self.model = distributed(self.module, self.device)
        self.opt = torch.optim.AdamW(self.module.parameters(), lr=config.lr,
                                     weight_decay=config.weight_decay)
        if opt_state:
            self.opt.load_state_dict(opt_state)
        self.module.train()
        self.model_config, self.config, self.train = model_config, config, train
        self.checkpoint, self.show_progress = checkpoint, show_progress
        self.started = time.monotonic() - self.progress.seconds
        self.last_checkpoint = time.monotonic()
        self.budget = config.max_minutes * 60
        self.epoch_tokens = train.num_tokens()

    def train_epoch(self) -> bool:
        """This rank's shard of the current epoch's batches, from ``progress.batch`` on
        (checkpointed every ``checkpoint_minutes``); True when the time budget ran out."""
        state, config = self.progress, self.config
        batches = make_batches(self.train, config.batch_tokens, config.max_len,
                               np.random.default_rng(config.seed + state.epoch))
        batches = batches[: len(batches) // self.size * self.size][self.rank::self.size]
        meter = _LossMeter(tqdm(
            total=len(batches), initial=state.batch, unit="batch", mininterval=2,
            desc=f"{self.model_config.arch} epoch {state.epoch + 1}",
            disable=not self.show_progress or self.rank > 0), self.size)
        out_of_time = False
        for index in range(state.batch, len(batches)):
            nll, targets = self.step(batches[index])
            state.seconds, targets = shared_clock(time.monotonic() - self.started, targets)
            state.batch, state.tokens = index + 1, state.tokens + targets
            meter.add(nll.item(), targets, last=index == len(batches) - 1)
            if time.monotonic() - self.last_checkpoint > config.checkpoint_minutes * 60:
                self.save(self.checkpoint)
                self.last_checkpoint = time.monotonic()
            if state.seconds > self.budget:
                out_of_time = True
                break
        meter.bar.close()
        return out_of_time

    def step(self, batch: np.ndarray) -> tuple[torch.Tensor, int]:
        """One optimizer step on a batch of sentences, at the learning rate of the
        schedule; (summed NLL, number of targets) of the batch."""
        state, config = self.progress, self.config
        x, y = collate(self.train, batch, self.model_config, config.max_len)
        x, y = x.to(self.device), y.to(self.device)
        targets = int((y != -100).sum())
        done = run_fraction(state.seconds, self.budget, state.tokens,
                            config.epochs * self.epoch_tokens)
        for group in self.opt.param_groups:
            group["lr"] = learning_rate(config.lr, done, state.lr_scale)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            nll = batch_nll(self.model, x, y)
        self.opt.zero_grad(set_to_none=True)
        (nll / targets).backward()
        torch.nn.utils.clip_grad_norm_(self.module.parameters(), config.clip)
        self.opt.step()
        return nll, targets

    def validate(self, valid: TokenStore | None, chars: int) -> float | None:
        """The validation BPC (rank 0's, on every rank), or None without validation text."""
        bpc = validation_bpc(self.module, valid, chars, self.device) \
            if valid and self.rank == 0 else 0.0
        bpc = shared_bpc(bpc)
        return bpc if valid else None

    def record_epoch(self, bpc: float | None) -> None:
        """The epoch's line in the history (and printed by rank 0)."""
        state = self.progress
        epochs = state.tokens / self.epoch_tokens
        state.history.append({"epoch": round(epochs, 3), "valid_bpc": bpc,
                              "minutes": round(state.seconds / 60, 2)})
        if self.rank == 0:
            print(f"{self.model_config.arch}: {epochs:.2f} epochs, {state.seconds / 60:.1f} "
                  f"min, {state.tokens / max(state.seconds, 1e-9):,.0f} tokens/s, valid BPC "
                  f"{bpc if bpc is None else round(bpc, 4)}", flush=True)

    def save(self, path: Path) -> None:
        """Checkpoint to ``path`` (rank 0 writes; every rank holds the same weights)."""
        if self.rank == 0:
            save_checkpoint(path, self.module, self.opt, self.progress)

    def report(self) -> dict[str, Any]:
        """The training report of the manifest."""
        state = self.progress
        return {"seconds": round(state.seconds, 1), "tokens_seen": state.tokens,
                "tokens_per_second": round(state.tokens / max(state.seconds, 1e-9)),
                "epochs": round(state.tokens / self.epoch_tokens, 3),
                "valid_bpc": state.best_bpc, "history": state.history,
                "device": str(self.device), "processes": self.size}


class _LossMeter:
    """The progress bar's loss and tokens a second, over windows of about 20,000 tokens."""

    def __init__(self, bar: tqdm, processes: int):
        self.bar, self.processes = bar, processes
        self.tokens, self.nll, self.t0 = 0, 0.0, time.monotonic()

    def add(self, nll: float, tokens: int, last: bool) -> None:
        """A step's summed NLL (this rank's) and targets (all ranks')."""
        self.tokens, self.nll = self.tokens + tokens, self.nll + nll
        if self.tokens >= 20000 or last:
            rate = self.tokens / max(time.monotonic() - self.t0, 1e-9)
            self.bar.set_postfix(loss=f"{self.nll * self.processes / self.tokens:.3f}",
                                 tok_s=f"{rate:,.0f}")
            self.tokens, self.nll, self.t0 = 0, 0.0, time.monotonic()
        self.bar.update(1)


# oneDNN's instruction sets (ONEDNN_MAX_CPU_ISA) below AVX512_CORE_BF16, the first with
# bfloat16 instructions: a cap at one of them stands for a CPU without AVX512-BF16 and AMX.
