"""Neural language models: the recurrent family (tanh RNN, LSTM, GRU) and the
fixed-window feed-forward model (Bengio et al., 2003), behind the LM protocol.

Recurrent, one step (the names of the classic lecture)::

    x_t = E[w_t]                      E: V x D      (embedding)
    h_t = tanh(W_e x_t + W_h h_t-1)   W_e: D x H, W_h: H x H   (nn.RNN; LSTM/GRU gate this)
    P(w_t+1 | w_<=t) = softmax(U h_t) U: H x V      (or an adaptive softmax)

Window: the previous ``window`` embeddings concatenated -> tanh hidden layer -> softmax.

The output layer is either the full softmax (its weights optionally tied to the
embedding: Press & Wolf 2017, Inan et al. 2017) or an adaptive softmax (Grave et
al. 2017), which on a CPU is most of the speed: frequent pieces get the full
hidden size, rare ones a smaller projection.

A checkpoint is ``model.safetensors`` plus ``config.json`` holding the
constructor arguments, so loading needs no training code and never unpickles.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from models.families import NEURAL_FAMILIES
from models.lm import LanguageModel, Rows, TokenSet, logsumexp_rows

ARCHS = NEURAL_FAMILIES  # the architectures this module builds: every neural family
# adaptive softmax clusters: the 1000 most frequent pieces, the next 2000, the rest
DEFAULT_CUTOFFS = (1000, 3000)


@dataclass
class NeuralConfig:
    """Constructor arguments of a neural model; stored as ``config.json``. The defaults are
    the model training gives a large corpus (``models.training.LARGE_CORPUS``)."""

    arch: str = "lstm"
    vocab_size: int = 8000
    embed_dim: int = 256
    hidden_size: int = 512
    num_layers: int = 1
    dropout: float = 0.1
    tie_weights: bool = False
    window: int = 4  # previous tokens seen by the window model
    cutoffs: list[int] = field(default_factory=lambda: list(DEFAULT_CUTOFFS))  # []: full softmax
    div_value: float = 4.0  # each adaptive softmax cluster's size shrinks by this factor
    bos_id: int = 1
    eos_id: int = 2

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, not {self.arch!r}")
        self.cutoffs = [c for c in self.cutoffs if 0 < c < self.vocab_size - 1]


class NeuralLMModule(nn.Module):
    """The torch module: embedding, body (recurrent or window), output layer."""

    def __init__(self, cfg: NeuralConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.arch == "window":
            self.body = nn.Linear(cfg.window * cfg.embed_dim, cfg.hidden_size)
        else:
            rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cfg.arch]
            kw = {"nonlinearity": "tanh"} if cfg.arch == "rnn" else {}
            self.body = rnn(cfg.embed_dim, cfg.hidden_size, cfg.num_layers, batch_first=True,
                            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0, **kw)
        out_dim = cfg.hidden_size
        if cfg.cutoffs:
            self.out = nn.AdaptiveLogSoftmaxWithLoss(out_dim, cfg.vocab_size, cfg.cutoffs,
                                                     div_value=cfg.div_value)
        else:
            if cfg.tie_weights and cfg.hidden_size != cfg.embed_dim:
                self.proj = nn.Linear(cfg.hidden_size, cfg.embed_dim, bias=False)
                out_dim = cfg.embed_dim
            self.out = nn.Linear(out_dim, cfg.vocab_size)
            if cfg.tie_weights:
                self.out.weight = self.embed.weight

    def features(self, ids: torch.Tensor, hidden: Any = None) -> tuple[torch.Tensor, Any]:
        """Hidden features (B, T, H) for input ids (B, T), and the new recurrent state.

        For the window model ``ids`` must carry ``window - 1`` tokens of left context
        before the first position to predict (padded with <s>)."""
        x = self.drop(self.embed(ids))
        if self.cfg.arch == "window":
            w = self.cfg.window
            frames = x.unfold(1, w, 1).transpose(2, 3).flatten(2)  # (B, T-w+1, w*D)
            return self.drop(torch.tanh(self.body(frames))), None
        h, hidden = self.body(x, hidden)
        return self.drop(h), hidden

    def logprobs(self, h: torch.Tensor) -> torch.Tensor:
        """Normalised log-probabilities (N, V) of features (N, H)."""
        if self.cfg.cutoffs:
            return self.out.log_prob(h)
        if hasattr(self, "proj"):
            h = self.proj(h)
        return torch.log_softmax(self.out(h), dim=-1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Summed NLL (nats) of the targets ``y`` (-100 = padding) of inputs ``x``; the
        training entry point, so DistributedDataParallel sees the whole step."""
        feats, _ = self.features(x)
        mask = y != -100
        return self.loss(feats[mask], y[mask])

    def loss(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Summed negative log-likelihood (nats) of targets (N,) given features (N, H)."""
        if self.cfg.cutoffs:
            return adaptive_nll(self.out, h, targets)
        if hasattr(self, "proj"):
            h = self.proj(h)
        return nn.functional.cross_entropy(self.out(h), targets, reduction="sum")


class _SoftmaxNLL(torch.autograd.Function):
    """Summed ``-log softmax(logits)[target]`` over rows, in float32 whatever the
    logits' dtype; the backward pass is ``softmax - onehot`` in one tensor, where
    log_softmax + gather would build three (N, C) tensors and fill a fourth with zeros."""

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        lf = logits.float()
        lse = torch.logsumexp(lf, dim=1)
        ctx.save_for_backward(lf, lse, target)
        ctx.dtype = logits.dtype
        return (lse - lf.gather(1, target.unsqueeze(1)).squeeze(1)).sum()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        lf, lse, target = ctx.saved_tensors
        p = torch.exp(lf - lse.unsqueeze(1))
        p[torch.arange(len(target), device=p.device), target] -= 1.0
        return p.mul_(grad).to(ctx.dtype), None


def adaptive_nll(out: nn.AdaptiveLogSoftmaxWithLoss, h: torch.Tensor,
                 targets: torch.Tensor) -> torch.Tensor:
    """Summed NLL (nats) under an adaptive softmax, equal to ``out(h, targets).loss``.

    Written out because torch's own forward mixes dtypes under bf16 autocast: here the
    matmuls (most of a CPU step) run in whatever precision autocast picks and only the
    softmaxes are taken in float32. Every row has a head term (its piece, or its
    cluster), and the rows of each cluster a tail term."""
    head_targets = targets.clone()
    clusters = []
    for i, (lo, hi) in enumerate(zip(out.cutoffs[:-1], out.cutoffs[1:], strict=True)):
        rows = ((targets >= lo) & (targets < hi)).nonzero().squeeze(1)
        head_targets[rows] = out.shortlist_size + i
        clusters.append(rows)
    total = _SoftmaxNLL.apply(out.head(h), head_targets)
    for i, rows in enumerate(clusters):
        if rows.numel() == 0:
            # keep the cluster in the graph (a zero) so every rank reduces the same grads
            total = total + 0.0 * sum(p.sum() for p in out.tail[i].parameters())
            continue
        total = total + _SoftmaxNLL.apply(out.tail[i](h[rows]), targets[rows] - out.cutoffs[i])
    return total


def weights_to_save(module: NeuralLMModule) -> dict[str, torch.Tensor]:
    """The module's weights as stored (the model and training checkpoints): on the CPU,
    contiguous, and without ``out.weight`` where it is tied to ``embed.weight`` (the same
    storage, which safetensors refuses to write twice; loading ties it again)."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    if module.cfg.tie_weights:
        tensors.pop("out.weight", None)
    return tensors


def save_neural(module: NeuralLMModule, directory: Path) -> list[Path]:
    """Write ``model.safetensors`` and ``config.json``; returns the files."""
    directory.mkdir(parents=True, exist_ok=True)
    save_file(weights_to_save(module), str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps(asdict(module.cfg), indent=2))
    return [directory / "model.safetensors", directory / "config.json"]


def load_module(directory: Path, device: str = "cpu") -> NeuralLMModule:
    """Rebuild the module from ``config.json`` and its safetensors weights (no pickle)."""
    cfg = NeuralConfig(**json.loads((Path(directory) / "config.json").read_text()))
    module = NeuralLMModule(cfg)
    state = load_file(str(Path(directory) / "model.safetensors"), device=device)
    if cfg.tie_weights and "out.weight" not in state:
        state["out.weight"] = state["embed.weight"]
    module.load_state_dict(state)
    return module.to(device).eval()


@dataclass(frozen=True, eq=False)
class NeuralState:
    """What a neural model has read: its recurrent state (or the window of ids)
    and the next-token log-probabilities that follow from it."""

    hidden: Any
    logprobs: np.ndarray
    masses: dict = field(default_factory=dict, repr=False)  # ln P(set), by set, once read

    def logmass(self, tokens: TokenSet) -> float:
        """ln P(any of ``tokens``), computed once for each set."""
        mass = self.masses.get(tokens)
        if mass is None:
            lp = self.logprobs
            total = float(np.exp(lp) @ tokens.mask32)
            # a set whose pieces all underflow in float32 is summed in log space
            mass = np.log(total) if total > 1e-30 else float(
                logsumexp_rows(lp[tokens.ids].astype(np.float64)))
            self.masses[tokens] = mass
        return mass


class NeuralRows(Rows):
    """The stored rows of neural states; the mass of a set is kept by each state (the
    next keystroke of a word reads the same states again)."""

    def __init__(self, states: Sequence[NeuralState]):
        self.states = states

    def __len__(self) -> int:
        return len(self.states)

    def __getitem__(self, part: slice) -> NeuralRows:
        return NeuralRows(self.states[part])

    def take(self, b: int, ids: np.ndarray | Sequence[int]) -> np.ndarray:
        return self.states[b].logprobs[ids]

    def logmass(self, tokens: TokenSet) -> np.ndarray:
        return np.array([s.logmass(tokens) for s in self.states])


class NeuralLM(LanguageModel):
    """A neural model speaking the LM protocol; inference only, on the CPU."""

    def __init__(self, module: NeuralLMModule):
        self.module = module.eval()
        cfg = module.cfg
        self.family, self.cfg = cfg.arch, cfg
        self.vocab_size, self.bos_id, self.eos_id = cfg.vocab_size, cfg.bos_id, cfg.eos_id
        self._start: NeuralState | None = None

    @torch.inference_mode()
    def _step(self, hidden: list[Any], ids: Sequence[int]) -> list[NeuralState]:
        cfg, m = self.cfg, self.module
        if cfg.arch == "window":
            windows = [(*h, int(i))[-cfg.window:] for h, i in zip(hidden, ids, strict=True)]
            x = torch.tensor(windows, dtype=torch.long)
            feats, _ = m.features(x)
            lp = m.logprobs(feats[:, -1]).float().numpy()  # float32: 4 bytes a piece cached
            return [NeuralState(w, lp[b].copy()) for b, w in enumerate(windows)]
        x = torch.tensor(list(ids), dtype=torch.long).unsqueeze(1)
        if hidden[0] is None:
            state = None
        elif cfg.arch == "lstm":
            state = (torch.cat([h[0] for h in hidden], 1), torch.cat([h[1] for h in hidden], 1))
        else:
            state = torch.cat(hidden, 1)
        feats, new = m.features(x, state)
        lp = m.logprobs(feats[:, -1]).float().numpy()
        out = []
        for b in range(len(ids)):
            if cfg.arch == "lstm":
                hb = (new[0][:, b:b + 1].clone(), new[1][:, b:b + 1].clone())
            else:
                hb = new[:, b:b + 1].clone()
            out.append(NeuralState(hb, lp[b].copy()))  # not a view: a cached state must
            # not keep the whole batch alive (a round batches hundreds of states)
        return out

    def start(self) -> NeuralState:
        """The state after <s> (computed once)."""
        if self._start is None:
            empty = (self.bos_id,) * (self.cfg.window - 1) if self.cfg.arch == "window" else None
            self._start = self._step([empty], [self.bos_id])[0]
        return self._start

    def advance(self, states: Sequence[NeuralState], ids: Sequence[int]) -> list[NeuralState]:
        """One batched step of the model."""
        if not states:
            return []
        return self._step([s.hidden for s in states], ids)

    @torch.inference_mode()
    def feed_batch(self, states: Sequence[NeuralState],
                   runs: Sequence[Sequence[int]]) -> list[NeuralState]:
        """Each state fed its own run, all runs in one padded pass of the recurrent layer
        (packed, so a run's last state is taken where it ends) and one of the output
        layer. Requests that start a new word at the same moment share it."""
        todo = [j for j, r in enumerate(runs) if r]
        out = list(states)
        if len(todo) <= 1 or self.cfg.arch == "window":
            for j in todo:
                out[j] = self.feed(states[j], runs[j])
            return out
        m, lstm = self.module, self.cfg.arch == "lstm"
        lengths = [len(runs[j]) for j in todo]
        x = torch.zeros((len(todo), max(lengths)), dtype=torch.long)
        for b, j in enumerate(todo):
            x[b, :lengths[b]] = torch.tensor(list(runs[j]), dtype=torch.long)
        hidden = [states[j].hidden for j in todo]
        h0 = ((torch.cat([h[0] for h in hidden], 1), torch.cat([h[1] for h in hidden], 1))
              if lstm else torch.cat(hidden, 1))
        packed = nn.utils.rnn.pack_padded_sequence(m.embed(x), lengths, batch_first=True,
                                                   enforce_sorted=False)
        _, new = m.body(packed, h0)  # each run's state where it ends
        last = (new[0] if lstm else new)[-1]  # (B, H): the top layer, each run's end
        lp = m.logprobs(last).float().numpy()
        for b, j in enumerate(todo):
            hb = ((new[0][:, b:b + 1].clone(), new[1][:, b:b + 1].clone()) if lstm
                  else new[:, b:b + 1].clone())
            out[j] = NeuralState(hb, lp[b].copy())
        return out

    @torch.inference_mode()
    def feed(self, state: NeuralState, ids: Sequence[int]) -> NeuralState:
        """``state`` advanced over a run of tokens in one pass of the recurrent layer, the
        output layer only at its end (a step at a time, it ran at every token)."""
        if not ids:
            return state
        if self.cfg.arch == "window":  # the last window is all that is kept
            return self._step([(*state.hidden, *ids[:-1])], [ids[-1]])[0]
        m = self.module
        feats, new = m.features(torch.tensor([list(ids)], dtype=torch.long), state.hidden)
        lp = m.logprobs(feats[:, -1]).float().numpy()
        hidden = (new[0].clone(), new[1].clone()) if self.cfg.arch == "lstm" else new.clone()
        return NeuralState(hidden, lp[0].copy())

    def logprobs(self, states: Sequence[NeuralState]) -> np.ndarray:
        """The stored next-token log-probabilities of each state."""
        return np.stack([s.logprobs for s in states])

    def rows(self, states: Sequence[NeuralState]) -> NeuralRows:
        """The stored rows, read in parts (no copy)."""
        return NeuralRows(list(states))

    def token_logprobs(self, ids: Sequence[int]) -> np.ndarray:
        """ln P of each token given <s> and what precedes it, in one forward pass."""
        return self.token_logprobs_batch([ids])[0]

    def _target_logprobs(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """ln P of each target given its features (N, H), without keeping N whole
        distributions (their memory grows with the text: docs/operations.md, "Scoring a
        long text"). 128 rows at a time; the adaptive softmax scores the head and each
        target's own cluster only."""
        m = self.module

        def score(hc: torch.Tensor, tc: torch.Tensor) -> torch.Tensor:
            if m.cfg.cutoffs:
                return m.out(hc, tc).output
            # whole rows: the peak still grows with the text as glibc's heap fragments
            return m.logprobs(hc)[torch.arange(len(tc)), tc]

        return torch.cat([score(h[i:i + 128], targets[i:i + 128])
                          for i in range(0, len(targets), 128)])

    @torch.inference_mode()
    def token_logprobs_batch(self, seqs: Sequence[Sequence[int]],
                             batch_tokens: int = 4096) -> list[np.ndarray]:
        """``token_logprobs`` of each sequence, sorted by length and run in padded batches
        of about ``batch_tokens`` positions (the model is causal, so padding after a
        sequence does not change its scores)."""
        out: list[np.ndarray] = [np.empty(0)] * len(seqs)
        lead = [self.bos_id] * (self.cfg.window if self.cfg.arch == "window" else 1)
        order = sorted((i for i, s in enumerate(seqs) if len(s)), key=lambda i: len(seqs[i]))
        start = 0
        while start < len(order):
            end = start + 1  # lengths ascend: the group's longest is its last
            while end < len(order) and (end - start + 1) * len(seqs[order[end]]) <= batch_tokens:
                end += 1
            group = order[start:end]
            width = len(lead) - 1 + len(seqs[group[-1]])
            x = torch.full((len(group), width), self.eos_id, dtype=torch.long)
            for b, i in enumerate(group):
                row = [*lead, *seqs[i][:-1]]
                x[b, :len(row)] = torch.tensor(row)
            feats, _ = self.module.features(x)
            rows = torch.cat([feats[b, :len(seqs[i])] for b, i in enumerate(group)])
            targets = torch.tensor([t for i in group for t in seqs[i]])
            lp = self._target_logprobs(rows, targets).double()
            for i, part in zip(group, lp.split([len(seqs[i]) for i in group]), strict=True):
                out[i] = part.numpy()
            start = end
        return out


def load_neural(directory: Path) -> NeuralLM:
    """The LM-protocol model stored in ``directory`` (``config.json`` + safetensors)."""
    return NeuralLM(load_module(directory))
