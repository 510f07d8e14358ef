"""The neural models on a CUDA GPU (skipped, saying why, where there is none): the adaptive
loss there, and a model trained there (bf16 autocast, cuDNN's recurrent kernels) that the
CPU serves with the same scores."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
import torch

from models.artifacts import read_manifest
from models.loading import load_model
from models.neural import NeuralConfig, NeuralLMModule, adaptive_nll, load_module
from tests.conftest import SAMPLE, tiny_neural

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA GPU here: these tests run where there is one")


def test_the_adaptive_loss_on_cuda_equals_torchs():
    torch.manual_seed(0)
    cfg = NeuralConfig(arch="gru", vocab_size=50, embed_dim=8, hidden_size=12, cutoffs=[10, 30])
    module = NeuralLMModule(cfg).cuda().train()
    y = torch.tensor([0, 5, 9, 10, 29, 30, 49, 3, 17, 42], device="cuda")
    h = torch.randn(len(y), cfg.hidden_size, device="cuda", requires_grad=True)
    theirs = module.out(h, y).loss * len(y)
    theirs.backward()
    want = {n: p.grad.clone() for n, p in module.out.named_parameters()}
    want_h = h.grad.clone()
    module.zero_grad(set_to_none=True)
    h.grad = None
    ours = adaptive_nll(module.out, h, y)
    ours.backward()
    assert torch.allclose(ours, theirs, rtol=1e-5)
    assert torch.allclose(h.grad, want_h, atol=1e-5)
    for name, p in module.out.named_parameters():
        assert torch.allclose(p.grad, want[name], atol=1e-5), name
    with torch.autocast("cuda", dtype=torch.bfloat16):
        low = adaptive_nll(module.out, h, y)
    assert low.dtype == torch.float32 and torch.allclose(low, theirs, rtol=2e-2)


@pytest.mark.parametrize("arch", ["gru", "lstm"])
def test_a_model_trained_on_cuda_is_served_on_the_cpu(arch, tmp_path):
    out = tiny_neural(arch, SAMPLE, tmp_path / arch, device="cuda", bf16=True, epochs=2)
    report = read_manifest(out)["models"][arch]["report"]
    assert report["device"].startswith("cuda") and report["tokens_per_second"] > 0

    m = load_model(out, arch)  # the service's path: CPU inference
    tok, lm = m.engine.tok, m.engine.lm
    ids = [*tok.encode("나는 밥을 먹었다ㅋㅋ"), tok.eos_id]
    on_cpu = lm.token_logprobs(ids)
    assert np.isfinite(on_cpu).all() and (on_cpu < 0).all()

    torch.backends.cudnn.allow_tf32 = False  # float32 on both sides
    gpu = load_module(out / arch, "cuda")
    with torch.inference_mode():
        x = torch.tensor([[tok.bos_id, *ids[:-1]]], device="cuda")
        lp = gpu.logprobs(gpu.features(x)[0][0])
        on_gpu = lp[torch.arange(len(ids)), torch.tensor(ids, device="cuda")].double().cpu()
    np.testing.assert_allclose(on_cpu, on_gpu.numpy(), atol=1e-4)

    got = m.engine.complete("나는 밥을 머", k=3)  # a half-typed syllable, no final consonant
    assert got, "no completion for 머"
    want = unicodedata.normalize("NFD", "머")
    assert all(unicodedata.normalize("NFD", c.text[0]).startswith(want) for c in got)
    assert [c.log_prob for c in got] == sorted((c.log_prob for c in got), reverse=True)
