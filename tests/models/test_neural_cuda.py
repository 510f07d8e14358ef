"""A model trained on a CUDA GPU (bf16 autocast, cuDNN's recurrent kernels) that the CPU
serves with the same scores; skipped, saying why, where there is no GPU. The adaptive loss
on CUDA is a case of its test in test_neural.py."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
import torch

from models.artifacts import read_manifest
from models.loading import load_model
from models.neural import load_module
from tests.conftest import SAMPLE, tiny_neural

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA GPU here: these tests run where there is one")


@pytest.mark.parametrize("arch", ["gru", "lstm"])
def test_a_model_trained_on_cuda_is_served_on_the_cpu(arch, tmp_path, monkeypatch):
    out = tiny_neural(arch, SAMPLE, tmp_path / arch, device="cuda", bf16=True, epochs=2)
    report = read_manifest(out)["models"][arch]["report"]
    assert report["device"].startswith("cuda") and report["tokens_per_second"] > 0

    m = load_model(out, arch)  # the service's path: CPU inference
    tok, lm = m.engine.tok, m.engine.lm
    ids = [*tok.encode("나는 밥을 먹었다ㅋㅋ"), tok.eos_id]
    on_cpu = lm.token_logprobs(ids)
    assert np.isfinite(on_cpu).all() and (on_cpu < 0).all()

    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # float32 on both sides
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
