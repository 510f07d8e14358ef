"""Training of the neural models, after the tokenizer and n-gram of the same run.

How a batch is cut: every sentence is its own sequence, as it is scored at
evaluation (each line from <s>, ending with </s>), so the hidden state never
leaks from one review into the next. Sentences of similar length are batched
together up to ``batch_tokens`` tokens, padded at the end; padding is never a
target::

    input   <s>  나   는   밥  ...  다   pad pad
    target  나   는   밥   ... 다   </s> pad pad     (pad ignored in the loss)

The token stream is kept as one int32 array plus sentence offsets, written to
the checkpoint folder and memory-mapped, so a corpus larger than memory only
costs disk. Checkpoints are one safetensors file (weights, optimizer moments,
and the progress as JSON metadata) replaced in one rename; ``resume`` continues
from the next batch of the same epoch order.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from models.bpc import nats_to_bpc
from models.neural import NeuralConfig, NeuralLMModule, weights_to_save
from models.threads import usable_cpus

PAD = 0  # <unk>: never a target in practice, and masked out anyway


@dataclass
class NeuralTrainConfig:
    """Optimisation settings; stored in the manifest beside the model config."""

    epochs: int = 10
    max_minutes: float = 60.0
    batch_tokens: int = 8192
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


class TokenStore:
    """Sentences of token ids as one flat int32 array and offsets, memory-mapped."""

    def __init__(self, directory: Path):
        self.tokens = np.load(directory / "tokens.npy", mmap_mode="r", allow_pickle=False)
        self.offsets = np.load(directory / "offsets.npy", allow_pickle=False)

    @staticmethod
    def write(sentences: Iterable[Sequence[int]], directory: Path) -> TokenStore:
        """Stream sentences to ``tokens.npy`` / ``offsets.npy`` in ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        raw = directory / "tokens.bin"
        offsets = [0]
        with open(raw, "wb") as f:
            for ids in sentences:
                f.write(np.asarray(ids, dtype=np.int32).tobytes())
                offsets.append(offsets[-1] + len(ids))
        flat = np.fromfile(raw, dtype=np.int32)
        np.save(directory / "tokens.npy", flat, allow_pickle=False)
        np.save(directory / "offsets.npy", np.asarray(offsets, dtype=np.int64),
                allow_pickle=False)
        raw.unlink()
        return TokenStore(directory)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def sentence(self, i: int) -> np.ndarray:
        """Token ids of sentence ``i``."""
        return self.tokens[self.offsets[i]: self.offsets[i + 1]]

    def num_tokens(self) -> int:
        """Tokens to predict: every piece plus one </s> per sentence."""
        return int(self.offsets[-1]) + len(self)


def make_batches(store: TokenStore, batch_tokens: int, max_len: int,
                 rng: np.random.Generator) -> list[np.ndarray]:
    """Sentence indices grouped by similar length, in a shuffled order."""
    lengths = np.minimum(np.diff(store.offsets), max_len) + 1
    order = rng.permutation(len(store))
    # sort within large shuffled chunks: similar lengths together, still random overall
    chunk = max(1, 100 * batch_tokens // int(lengths.mean()))
    batches = []
    for s in range(0, len(order), chunk):
        part = order[s:s + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        start = 0
        while start < len(part):
            longest, end = 0, start
            while end < len(part) and max(longest, lengths[part[end]]) * (end - start + 1) \
                    <= batch_tokens:
                longest = max(longest, lengths[part[end]])
                end += 1
            end = max(end, start + 1)
            batches.append(part[start:end])
            start = end
    rng.shuffle(batches)
    return batches


def collate(store: TokenStore, idx: Sequence[int], cfg: NeuralConfig,
            max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) for a batch of sentences; pad targets are -100."""
    lead = cfg.window if cfg.arch == "window" else 1
    sents = [store.sentence(i)[:max_len] for i in idx]
    width = max(len(s) for s in sents) + 1
    x = np.full((len(sents), width + lead - 1), PAD, dtype=np.int64)
    y = np.full((len(sents), width), -100, dtype=np.int64)
    for b, s in enumerate(sents):
        x[b, :lead] = cfg.bos_id
        x[b, lead:lead + len(s)] = s
        y[b, :len(s)] = s
        y[b, len(s)] = cfg.eos_id
    return torch.from_numpy(x), torch.from_numpy(y)


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


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def save_checkpoint(path: Path, module: NeuralLMModule, opt: torch.optim.Optimizer,
                    progress: dict[str, Any]) -> None:
    """Weights, optimizer moments and progress in one file, replaced atomically."""
    tensors = {f"model.{k}": v for k, v in weights_to_save(module).items()}
    state = opt.state_dict()
    for pid, slots in state["state"].items():
        for name, value in slots.items():
            tensors[f"optim.{pid}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    meta = {"progress": json.dumps(progress), "param_groups": json.dumps(state["param_groups"]),
            "config": json.dumps(asdict(module.cfg))}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def load_checkpoint(path: Path, device: torch.device) -> tuple[NeuralLMModule,
                                                               dict[str, Any], dict[str, Any]]:
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
    return module.to(device), opt_state, json.loads(meta["progress"])


def train_module(cfg: NeuralConfig, tcfg: NeuralTrainConfig, train: TokenStore,
                 valid: TokenStore | None, valid_chars: int, checkpoint: Path,
                 resume: bool = False, progress: bool = True) -> tuple[NeuralLMModule | None,
                                                                       dict[str, Any]]:
    """Train (or resume) a model; returns the best module and a training report.

    Under torchrun every rank trains on its own shard of the batches with
    DistributedDataParallel; rank 0 alone validates, checkpoints and returns the
    module (the other ranks return None). Decisions that end an epoch or the run
    are taken from values all ranks share, so no rank waits on a collective alone.
    """
    rank, size = world()
    device = pick_device(tcfg.device)
    if device.type == "cuda" and size > 1:
        device = torch.device("cuda", torch.cuda.current_device())
    torch.set_num_threads(tcfg.threads or max(1, usable_cpus() // size))
    torch.manual_seed(tcfg.seed)
    if resume and checkpoint.is_file():
        module, opt_state, prog = load_checkpoint(checkpoint, device)
    else:
        module, opt_state = NeuralLMModule(cfg).to(device), None
        prog = {"epoch": 0, "batch": 0, "seconds": 0.0, "tokens": 0, "best_bpc": None,
                "bad_epochs": 0, "history": [], "done": False}
    model: torch.nn.Module = module
    if size > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=False)  # adaptive_nll keeps an empty cluster in the graph
    opt = torch.optim.AdamW(module.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    if opt_state:
        opt.load_state_dict(opt_state)
    best_path = checkpoint.with_name(checkpoint.stem + ".best.safetensors")
    module.train()
    started, last_ckpt = time.monotonic() - prog["seconds"], time.monotonic()
    budget = tcfg.max_minutes * 60
    total_tokens = train.num_tokens()
    shared_elapsed = prog["seconds"]

    def checkpoint_now() -> None:
        prog["seconds"] = shared_elapsed
        if rank == 0:
            save_checkpoint(checkpoint, module, opt, prog)

    while not prog["done"] and prog["epoch"] < tcfg.epochs:
        epoch = prog["epoch"]
        batches = make_batches(train, tcfg.batch_tokens, tcfg.max_len,
                               np.random.default_rng(tcfg.seed + epoch))
        batches = batches[: len(batches) // size * size][rank::size]  # this rank's shard
        bar = tqdm(total=len(batches), initial=prog["batch"], desc=f"{cfg.arch} epoch {epoch + 1}",
                   disable=not progress or rank > 0, mininterval=2, unit="batch")
        window_tokens, window_nll, window_t0 = 0, 0.0, time.monotonic()
        out_of_time = False
        for bi in range(prog["batch"], len(batches)):
            x, y = collate(train, batches[bi], cfg, tcfg.max_len)
            x, y = x.to(device), y.to(device)
            n = int((y != -100).sum())
            # cosine decay over whichever ends first, the time budget or the epochs
            done = max(shared_elapsed / budget, prog["tokens"] / (tcfg.epochs * total_tokens))
            for group in opt.param_groups:
                group["lr"] = tcfg.lr * prog.get("lr_scale", 1.0) * (
                    0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(done, 1.0))))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=tcfg.bf16):
                nll = batch_nll(model, x, y)
            opt.zero_grad(set_to_none=True)
            (nll / n).backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), tcfg.clip)
            opt.step()
            shared = torch.tensor([time.monotonic() - started, n], dtype=torch.float64)
            if size > 1:  # every rank sees the same clock and token count
                dist.all_reduce(shared)
                shared[0] /= size
            shared_elapsed = float(shared[0])
            prog["batch"], prog["tokens"] = bi + 1, prog["tokens"] + int(shared[1])
            window_tokens, window_nll = window_tokens + int(shared[1]), window_nll + nll.item()
            if window_tokens >= 20000 or bi == len(batches) - 1:
                rate = window_tokens / max(time.monotonic() - window_t0, 1e-9)
                bar.set_postfix(loss=f"{window_nll * size / window_tokens:.3f}",
                                tok_s=f"{rate:,.0f}")
                window_tokens, window_nll, window_t0 = 0, 0.0, time.monotonic()
            bar.update(1)
            if time.monotonic() - last_ckpt > tcfg.checkpoint_minutes * 60:
                checkpoint_now()
                last_ckpt = time.monotonic()
            if shared_elapsed > budget:
                out_of_time = True
                break
        bar.close()
        bpc = validation_bpc(module, valid, valid_chars, device) if valid and rank == 0 else 0.0
        if size > 1:  # rank 0's figure decides for everyone
            box = torch.tensor([bpc], dtype=torch.float64)
            dist.broadcast(box, 0)
            bpc = float(box[0])
        bpc = bpc if valid else None
        frac = prog["tokens"] / total_tokens
        prog["history"].append({"epoch": round(frac, 3), "valid_bpc": bpc,
                                "minutes": round(shared_elapsed / 60, 2)})
        if rank == 0:
            print(f"{cfg.arch}: {frac:.2f} epochs, {shared_elapsed / 60:.1f} min, "
                  f"{prog['tokens'] / max(shared_elapsed, 1e-9):,.0f} tokens/s, valid BPC "
                  f"{bpc if bpc is None else round(bpc, 4)}", flush=True)
        if bpc is None or prog["best_bpc"] is None or bpc < prog["best_bpc"]:
            prog["best_bpc"], prog["bad_epochs"] = bpc, 0
            if rank == 0:
                save_checkpoint(best_path, module, opt, prog)
        else:
            prog["bad_epochs"] += 1
            prog["lr_scale"] = prog.get("lr_scale", 1.0) * 0.25  # one more chance, slower
        if out_of_time:
            prog["done"] = True
        else:
            prog["epoch"], prog["batch"] = epoch + 1, 0
            if prog["bad_epochs"] > tcfg.patience:
                prog["done"] = True
        checkpoint_now()
    report = {"seconds": round(shared_elapsed, 1), "tokens_seen": prog["tokens"],
              "tokens_per_second": round(prog["tokens"] / max(shared_elapsed, 1e-9)),
              "epochs": round(prog["tokens"] / total_tokens, 3), "valid_bpc": prog["best_bpc"],
              "history": prog["history"], "device": str(device), "processes": size}
    if rank > 0:
        return None, report
    best = load_checkpoint(best_path, device)[0] if best_path.is_file() else module
    return best.cpu().eval(), report


# oneDNN's instruction sets (ONEDNN_MAX_CPU_ISA) below AVX512_CORE_BF16, the first with
# bfloat16 instructions: a cap at one of them stands for a CPU without AVX512-BF16 and AMX.
_ONEDNN_ISAS_WITHOUT_BF16 = frozenset({"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2",
                                       "AVX512_CORE", "AVX512_CORE_VNNI"})
_X86 = frozenset({"x86_64", "amd64", "i386", "i686"})


def _cpu_has_bf16_instructions() -> bool:
    """AVX512-BF16 or AMX-BF16, as cpuinfo (through torch) or else /proc/cpuinfo says."""
    try:
        caps = torch.cpu.get_capabilities()
        return bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))
    except (AttributeError, RuntimeError):
        try:
            flags = Path("/proc/cpuinfo").read_text().split()
        except OSError:
            return False
        return "avx512_bf16" in flags or "amx_bf16" in flags


def bf16_unsupported_reason(device: str = "auto") -> str | None:
    """Why bfloat16 autocast is not for ``device`` here, or None when it is: a CUDA GPU with
    bfloat16, or a CPU with AVX512-BF16 or AMX. Without them oneDNN cannot create its
    bfloat16 LSTM primitive ("could not create a primitive descriptor for the LSTM forward
    propagation primitive", mid-run). Read from the CPU's flags: oneDNN's own check says
    yes on an AVX512 CPU without them, where it emulates bfloat16 and a training step takes
    longer than in float32 (1.2x for the GRU, 1.8x for the LSTM, under
    ONEDNN_MAX_CPU_ISA=AVX512_CORE). ``ONEDNN_MAX_CPU_ISA`` (or ``DNNL_``) below
    AVX512_CORE_BF16 and ``ATEN_CPU_CAPABILITY`` below avx512 count as their absence: they
    are how an older CPU is imitated on a newer one."""
    dev = pick_device(device)
    if dev.type == "cuda":
        return None if torch.cuda.is_bf16_supported() else "this CUDA GPU has no bfloat16"
    if dev.type != "cpu":
        return f"bfloat16 autocast is only used on CPUs and CUDA GPUs, not {dev.type}"
    if platform.machine().lower() in _X86:
        if not _cpu_has_bf16_instructions():
            return "this CPU has neither AVX512-BF16 nor AMX"
        for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
            isa = os.environ.get(name, "").strip().upper()
            if isa in _ONEDNN_ISAS_WITHOUT_BF16:
                return f"{name}={isa} keeps oneDNN below AVX512-BF16 and AMX"
        aten = torch.backends.cpu.get_cpu_capability()
        if aten in ("DEFAULT", "NO AVX", "AVX2"):
            return f"PyTorch's CPU kernels run at {aten} (ATEN_CPU_CAPABILITY), below AVX512"
    try:
        supported = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        supported = False
    return None if supported else "oneDNN has no bfloat16 kernels for this CPU"


def bf16_supported(device: str = "auto") -> bool:
    """Whether bfloat16 autocast works, and pays, on ``device`` (``bf16_unsupported_reason``)."""
    return bf16_unsupported_reason(device) is None
