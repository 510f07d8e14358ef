"""What one training step of a recurrent model costs on this CPU, and its output layer.

    python bench/train_step.py                      # GRU 256/512, 8K pieces, cutoffs 1000 3000
    python bench/train_step.py --vocab 16000 --cutoffs 1000 4000 --div-value 2

Times, in one process and on synthetic Zipf-distributed pieces (sentences of ``--length``
pieces, ``--batch-tokens`` a step, as one torchrun process of ``make nsmc`` sees them):

- the adaptive softmax's loss, forward and backward, as torch's own layer computes it
  (``AdaptiveLogSoftmaxWithLoss(h, y).loss``, float32) against ours (``adaptive_nll``,
  bf16 matmuls where the CPU has them, float32 softmaxes), each the median of ``--repeat``;
- a whole optimiser step of the model (forward, backward, clipping, AdamW): tokens/s.

Run it on a quiet machine; the figures are ratios of runs in the same process.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from models.devices import bf16_supported
from models.neural import NeuralConfig, NeuralLMModule, adaptive_nll


def median_ms(fn, repeat: int) -> float:
    """Median wall time of ``fn()`` in milliseconds, after two warm-up calls."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="gru", choices=["gru", "lstm", "rnn"])
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--cutoffs", type=int, nargs="+", default=[1000, 3000])
    ap.add_argument("--div-value", type=float, default=4.0)
    ap.add_argument("--embed-dim", type=int, default=256)
    ap.add_argument("--hidden-size", type=int, default=512)
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--length", type=int, default=20, help="pieces a sentence")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = NeuralConfig(arch=args.arch, vocab_size=args.vocab, embed_dim=args.embed_dim,
                       hidden_size=args.hidden_size, dropout=0.0, cutoffs=args.cutoffs,
                       div_value=args.div_value)
    module = NeuralLMModule(cfg).train()
    bf16 = bf16_supported("cpu")
    rng = np.random.default_rng(0)
    zipf = 1 / np.arange(1, args.vocab + 1)
    zipf /= zipf.sum()
    rows = args.batch_tokens // args.length
    x = torch.from_numpy(rng.choice(args.vocab, (rows, args.length), p=zipf))
    y = torch.from_numpy(rng.choice(args.vocab, (rows, args.length), p=zipf))
    h = torch.randn(rows * args.length, args.hidden_size)
    targets = y.flatten()

    def torch_layer() -> None:
        hh = h.clone().requires_grad_()
        module.out(hh, targets).loss.backward()

    def ours() -> None:
        hh = h.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = adaptive_nll(module.out, hh, targets)
        loss.backward()

    opt = torch.optim.AdamW(module.parameters(), lr=1e-3, weight_decay=0.1)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            nll = module(x, y)
        opt.zero_grad(set_to_none=True)
        (nll / targets.numel()).backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        opt.step()

    print(f"{args.arch} {args.embed_dim}/{args.hidden_size}, {args.vocab} pieces, cutoffs "
          f"{args.cutoffs}, div {args.div_value:g}; {rows}x{args.length} pieces a step, "
          f"{args.threads} thread(s), bf16 {'on' if bf16 else 'off (not on this CPU)'}")
    base = median_ms(torch_layer, args.repeat)
    fast = median_ms(ours, args.repeat)
    print(f"output layer, forward + backward: torch's layer {base:.1f} ms, ours {fast:.1f} ms "
          f"({base / fast:.2f}x)")
    ms = median_ms(step, args.repeat)
    print(f"whole step: {ms:.1f} ms, {targets.numel() / ms * 1000:,.0f} tokens/s")


if __name__ == "__main__":
    main()
