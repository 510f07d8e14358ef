import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from models.artifacts import ModelDirectoryError, read_manifest
from models.devices import bf16_supported, bf16_unsupported_reason
from models.loading import load_model
from models.neural import (
    ARCHS,
    NeuralConfig,
    NeuralLM,
    NeuralLMModule,
    adaptive_nll,
    load_neural,
    save_neural,
)
from tests.conftest import tiny_neural

ROOT = Path(__file__).resolve().parents[2]


def tiny_module(arch: str, cutoffs: list[int], tie: bool = False) -> NeuralLMModule:
    torch.manual_seed(0)
    cfg = NeuralConfig(arch=arch, vocab_size=50, embed_dim=8, hidden_size=12, cutoffs=cutoffs,
                       tie_weights=tie, window=3, num_layers=2 if arch == "gru" else 1)
    return NeuralLMModule(cfg).eval()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("cutoffs", [[], [10, 30]])
def test_logprobs_are_normalised_and_match_sequence_scoring(arch, cutoffs):
    lm = NeuralLM(tiny_module(arch, cutoffs, tie=not cutoffs))
    ids = [5, 7, 9, 11, 2]
    state, stepwise = lm.start(), []
    for i in ids:
        lp = lm.logprobs([state])[0]
        assert lp.shape == (50,) and np.isfinite(lp).all()
        assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-5)
        stepwise.append(lp[i])
        state = lm.advance([state], [i])[0]
    np.testing.assert_allclose(lm.token_logprobs(ids), stepwise, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_a_batched_step_equals_single_steps(arch):
    lm = NeuralLM(tiny_module(arch, []))
    a = lm.feed(lm.start(), [4, 5])
    b = lm.feed(lm.start(), [6])
    batched = lm.advance([a, b], [7, 8])
    single = [lm.advance([a], [7])[0], lm.advance([b], [8])[0]]
    np.testing.assert_allclose(lm.logprobs(batched), lm.logprobs(single), atol=1e-6)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("cutoffs", [[], [10, 30]])
def test_batched_sequence_scoring_equals_one_sequence_at_a_time(arch, cutoffs):
    # lengths out of order, an empty one, and groups of a few positions: padding, sorting
    # and splitting must not move a score
    lm = NeuralLM(tiny_module(arch, cutoffs))
    rng = np.random.default_rng(0)
    seqs = [list(rng.integers(3, 50, n)) for n in (7, 1, 0, 12, 3, 3, 9, 2)]
    for budget in (8, 4096):
        batched = lm.token_logprobs_batch(seqs, batch_tokens=budget)
        assert [len(x) for x in batched] == [len(s) for s in seqs]
        for got, ids in zip(batched, seqs, strict=True):
            np.testing.assert_allclose(got, lm.token_logprobs(ids), atol=1e-5)


@pytest.mark.parametrize("cutoffs", [[], [10, 30]])
def test_a_long_text_is_scored_as_its_whole_distributions_would_score_it(cutoffs):
    # more positions than the full softmax's chunk of rows; the adaptive softmax scores
    # only each target's cluster
    lm = NeuralLM(tiny_module("gru", cutoffs))
    ids = list(np.random.default_rng(1).integers(3, 50, 1100))
    with torch.inference_mode():
        feats, _ = lm.module.features(torch.tensor([[lm.bos_id, *ids[:-1]]]))
        whole = lm.module.logprobs(feats[0])[torch.arange(len(ids)), torch.tensor(ids)]
    np.testing.assert_allclose(lm.token_logprobs(ids), whole.double().numpy(), atol=1e-5)


def test_scoring_a_long_text_does_not_hold_its_whole_distributions():
    # 16,000 positions over 16K pieces with the adaptive softmax, as the NSMC models have
    # it: 1 GB of float32 as whole distributions, 3 GB of peak with the layer's
    # temporaries; the target's cluster only, 128 rows at a time, about 12 MB. In a fresh
    # process, since the peak RSS only grows
    code = """
import resource, numpy as np
from models.neural import NeuralConfig, NeuralLM, NeuralLMModule
cfg = NeuralConfig(arch="gru", vocab_size=16000, embed_dim=8, hidden_size=16,
                   cutoffs=[1000, 4000])
lm = NeuralLM(NeuralLMModule(cfg).eval())
ids = list(np.random.default_rng(0).integers(3, 16000, 16000))
lm.token_logprobs(ids[:600])  # warm: the first call's own allocations
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
lm.token_logprobs(ids)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) < 200  # MB


@pytest.mark.parametrize("arch", ARCHS)
def test_save_then_load_gives_identical_outputs(arch, tmp_path):
    module = tiny_module(arch, [10, 30] if arch == "lstm" else [], tie=arch == "gru")
    save_neural(module, tmp_path / arch)
    before, after = NeuralLM(module), load_neural(tmp_path / arch)
    ids = [3, 4, 5, 6]
    np.testing.assert_array_equal(before.token_logprobs(ids), after.token_logprobs(ids))
    assert sorted(p.name for p in (tmp_path / arch).iterdir()) == ["config.json",
                                                                  "model.safetensors"]


@pytest.mark.parametrize("tie", [True, False])
def test_a_checkpoint_stores_tied_weights_once_and_ties_them_again(tie, tmp_path):
    """The model files and the training checkpoints store weights alike: a tied output
    layer is not written (it is the embedding), and loading ties it back."""
    from safetensors.torch import load_file

    from models.neural_training import TrainingProgress, load_checkpoint, save_checkpoint

    module = tiny_module("gru", [], tie=tie)
    opt = torch.optim.AdamW(module.parameters())
    path = tmp_path / "checkpoint.safetensors"
    save_checkpoint(path, module, opt, TrainingProgress(epoch=1))
    save_neural(module, tmp_path / "gru")
    stored = load_file(str(path))
    assert ("model.out.weight" in stored) is not tie
    assert ("out.weight" in load_file(str(tmp_path / "gru" / "model.safetensors"))) is not tie
    again, _, progress = load_checkpoint(path, torch.device("cpu"))
    assert progress == TrainingProgress(epoch=1)
    assert (again.out.weight is again.embed.weight) is tie
    ids = [3, 4, 5, 6]
    np.testing.assert_array_equal(NeuralLM(again.eval()).token_logprobs(ids),
                                  NeuralLM(module).token_logprobs(ids))


def test_completion_over_the_recurrent_model(rnn_model_dir):
    m = load_model(rnn_model_dir, "lstm")
    assert m.family == "lstm"
    out = m.engine.complete("나는 밥을 먹", k=5)
    assert out and all(c.text.startswith("먹") for c in out)
    assert [c.log_prob for c in out] == sorted((c.log_prob for c in out), reverse=True)
    assert m.engine.score("나는 밥을 먹었다").log_prob < 0


def test_answers_identical_with_and_without_the_state_cache(rnn_model_dir):
    engine = load_model(rnn_model_dir, "lstm").engine
    sentence = "친구가 집에 와서 같이 놀았다"
    for i in range(len(sentence) + 1):
        cached = engine.complete(sentence[:i], k=5)
        fresh = engine.complete(sentence[:i], k=5, use_cache=False)
        assert [c.text for c in cached] == [c.text for c in fresh], sentence[:i]
        np.testing.assert_allclose([c.log_prob for c in cached], [c.log_prob for c in fresh],
                                   rtol=1e-5)
    assert engine.cache_hits > 0


def test_a_corrupted_weight_file_is_refused_by_name(rnn_model_dir, tmp_path):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(rnn_model_dir.resolve(), copy)
    weights = copy / "lstm" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelDirectoryError, match=r"lstm/model\.safetensors"):
        load_model(copy, "lstm")
    assert load_model(copy, "ngram").engine.complete("나는 ", k=1)  # the n-gram is untouched


@pytest.mark.parametrize("damage", ["truncated", "empty", "not safetensors"])
def test_unreadable_weights_are_refused_by_name_even_unverified(rnn_model_dir, tmp_path,
                                                                damage):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(rnn_model_dir.resolve(), copy)
    weights = copy / "lstm" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes({"truncated": data[:len(data) // 2], "empty": b"",
                         "not safetensors": b"\xff" * 64}[damage])
    with pytest.raises(ModelDirectoryError, match=r"sha256 mismatch"):
        load_model(copy, "lstm")
    with pytest.raises(ModelDirectoryError, match=r"lstm: cannot load \(.*header"):
        load_model(copy, "lstm", verify=False)  # safetensors' own error, with the directory


def test_manifest_records_the_neural_training(rnn_model_dir):
    info = read_manifest(rnn_model_dir)["models"]["lstm"]
    assert info["config"]["hidden_size"] == 64 and info["parameters"] > 0
    assert info["validation"]["bpc"] > 0 and info["report"]["tokens_per_second"] > 0


@pytest.mark.parametrize("arch", ["gru", "rnn", "window"])
def test_every_family_trains_and_serves(arch, sample_corpus, tmp_path):
    out = tiny_neural(arch, sample_corpus, tmp_path / arch)
    m = load_model(out, arch)
    assert read_manifest(out)["models"][arch]["family"] == arch
    assert m.engine.complete("오늘 ", k=3)


def test_resume_after_a_kill_continues_from_the_checkpoint(sample_corpus, tmp_path):
    out, ck = tmp_path / "m", tmp_path / "ck"
    cmd = [sys.executable, str(ROOT / "scripts" / "train.py"), "--corpus", str(sample_corpus),
           "--out", str(out), "--order", "2", "--arch", "gru", "--embed-dim", "16",
           "--hidden-size", "32", "--epochs", "200", "--batch-tokens", "256", "--threads", "1",
           "--weight-decay", "0.05", "--checkpoint-dir", str(ck), "--checkpoint-minutes", "0.02",
           "--no-progress", "--bf16", "off"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = ck / "checkpoint.safetensors"
    deadline = time.monotonic() + 300
    try:
        while not checkpoint.is_file():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    ngram_only = read_manifest(out)
    assert "gru" not in ngram_only["models"]  # the published model is intact, n-gram only
    assert load_model(out, "ngram").engine.complete("나는 ", k=1)  # every hash verified
    from models.neural_training import load_checkpoint

    _, _, progress = load_checkpoint(checkpoint, torch.device("cpu"))
    assert progress.tokens > 0
    # two epochs past the checkpoint's: a fast CPU ends several epochs of this small corpus
    # between the first checkpoint and the kill
    epochs = str(progress.epoch + 2)
    done = subprocess.run([*cmd[:cmd.index("--epochs")], "--epochs", epochs, *cmd[cmd.index(
        "--batch-tokens"):], "--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "already has the tokenizer and n-gram" in done.stdout
    report = read_manifest(out)["models"]["gru"]["report"]
    assert report["tokens_seen"] > progress.tokens
    assert read_manifest(out)["models"]["gru"]["training"]["weight_decay"] == 0.05
    assert read_manifest(out)["files"]["tokenizer.model"] == ngram_only["files"][
        "tokenizer.model"]
    assert not ck.exists()  # the checkpoint is removed once the model is published
    assert load_model(out, "gru").engine.complete("오늘 ", k=1)  # the resumed model serves


def test_the_interpolated_model_is_normalised_tuned_and_preferred(rnn_model_dir, tmp_path,
                                                                 sample_corpus):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(rnn_model_dir.resolve(), tmp_path / "v1")
    copy.symlink_to(tmp_path / "v1")
    from models.families import served_family

    assert served_family(read_manifest(copy)) == "lstm"  # not interpolated yet
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "interpolate.py"), "--model",
                           str(copy), "--valid", str(sample_corpus), "--valid-lines", "300"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rnn_model_dir = copy
    manifest = read_manifest(rnn_model_dir)
    mix = manifest["models"]["lstm"]["interpolation"]
    assert 0 < mix["weight"] <= 1
    assert mix["valid"]["mixture_bpc"] <= mix["valid"]["neural_bpc"] + 1e-9  # λ=1 is a choice
    m = load_model(rnn_model_dir, "lstm+ngram")
    lm = m.engine.lm
    state = lm.feed(lm.start(), m.engine.tok.encode("나는 밥을"))
    assert np.exp(lm.logprobs([state])[0]).sum() == pytest.approx(1.0, abs=1e-5)
    ids = m.engine.tok.encode("나는 밥을 먹었다")
    steps, s = [], lm.start()
    for i in ids:
        steps.append(lm.logprobs([s])[0, i])
        s = lm.advance([s], [i])[0]
    np.testing.assert_allclose(lm.token_logprobs(ids), steps, atol=1e-5)
    assert "먹었다" in [c.text for c in m.engine.complete("나는 밥을 머", k=3)]
    expected = "lstm+ngram" if mix["valid"]["mixture_bpc"] < mix["valid"]["neural_bpc"] \
        else "lstm"
    assert served_family(manifest) == expected


NO_BF16 = bf16_unsupported_reason("cpu")
X86 = platform.machine().lower() in ("x86_64", "amd64")


@pytest.mark.skipif(NO_BF16 is not None, reason=f"no bfloat16 autocast on this machine: "
                                                f"{NO_BF16} (train.py --bf16 auto: float32)")
@pytest.mark.parametrize("arch", ARCHS)
def test_a_bf16_autocast_step_trains_every_family(arch):
    module = tiny_module(arch, [10, 30]).train()
    x = torch.randint(3, 50, (4, 9))
    y = torch.randint(3, 50, (4, 9 - (module.cfg.window - 1 if arch == "window" else 0)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = module(x, y)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert module.embed.weight.grad is not None


@pytest.mark.skipif(not X86, reason="the instruction sets checked are x86's")
@pytest.mark.parametrize("env, says", [
    ({"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}, "AVX512-BF16"),
    ({"DNNL_MAX_CPU_ISA": "avx512_core"}, "AVX512-BF16"),  # AVX512 without bf16: emulated
    ({"ATEN_CPU_CAPABILITY": "avx2"}, "AVX2"),
])
def test_bf16_is_off_under_the_caps_that_imitate_an_older_cpu(env, says):
    """What an AVX2-only CPU (where oneDNN's bf16 LSTM cannot be created) would be told,
    imitated here: each variable alone turns bf16 off, in a fresh process (they are read
    once, when torch loads)."""
    code = ("from models.devices import bf16_unsupported_reason, bf16_supported\n"
            "print(bf16_supported('cpu'), bf16_unsupported_reason('cpu'))")
    clean = {k: v for k, v in os.environ.items()
             if k not in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    supported, reason = done.stdout.strip().split(" ", 1)
    assert supported == "False" and says in reason, done.stdout


@pytest.mark.skipif(not X86, reason="the instruction sets checked are x86's")
def test_a_cpu_without_bf16_instructions_is_named(monkeypatch):
    """The flags decide, not oneDNN's own check (yes on an AVX512 CPU that only emulates
    bf16): a CPU reported without AVX512-BF16 and AMX is told so."""
    caps = {**torch.cpu.get_capabilities(), "avx512_bf16": False, "amx_bf16": False}
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: caps)
    assert bf16_unsupported_reason("cpu") == "this CPU has neither AVX512-BF16 nor AMX"
    assert not bf16_supported("cpu")


NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(),
                             reason="no CUDA GPU here: this case runs where there is one")


@pytest.mark.parametrize("device, atol", [("cpu", 1e-6), pytest.param("cuda", 1e-5,
                                                                      marks=NO_CUDA)])
@pytest.mark.parametrize("targets", [
    [0, 5, 9, 10, 29, 30, 49, 3, 17, 42],  # every cluster
    [0, 1, 2, 9, 4, 5, 6, 7, 8, 3],  # the shortlist only: the tails get no target
])
def test_the_adaptive_loss_equals_torchs_and_reaches_every_parameter(targets, device, atol):
    module = tiny_module("lstm", [10, 30]).to(device).train()
    h = torch.randn(len(targets), module.cfg.hidden_size, device=device)
    y = torch.tensor(targets, device=device)
    h.requires_grad_(True)
    theirs = module.out(h, y).loss * len(targets)
    theirs.backward()
    want = {n: torch.zeros_like(p) if p.grad is None else p.grad.clone()
            for n, p in module.out.named_parameters()}
    want_h = h.grad.clone()
    module.zero_grad(set_to_none=True)
    h.grad = None
    ours = adaptive_nll(module.out, h, y)
    assert torch.allclose(ours, theirs, rtol=1e-5)
    ours.backward()
    # the same gradients as torch's own layer (for the input and every weight)
    assert torch.allclose(h.grad, want_h, atol=atol)
    for name, p in module.out.named_parameters():
        assert torch.allclose(p.grad, want[name], atol=atol), name
    # an empty cluster still takes part (with a zero gradient), so DDP needs no search
    # for unused parameters
    assert all(p.grad is not None for p in module.out.parameters())
    with torch.autocast(device, dtype=torch.bfloat16):
        low = adaptive_nll(module.out, h, y)
    assert low.dtype == torch.float32
    assert torch.allclose(low, theirs, rtol=2e-2)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is here")
def test_asking_for_cuda_without_a_gpu_fails_at_once_and_writes_nothing(sample_corpus,
                                                                        tmp_path):
    out = tmp_path / "m"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "--corpus",
                           str(sample_corpus), "--out", str(out), "--device", "cuda"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "--device cuda: PyTorch sees no CUDA GPU here" in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("arch", ["lstm", "gru", "rnn", "window"])
def test_feeding_a_run_of_tokens_equals_advancing_one_at_a_time(arch, tmp_path):
    """``feed`` runs the recurrent layer once over the run and the output layer at its
    end; the state it gives is the one that token-by-token ``advance`` reaches."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(["나는 밥을 먹었다", "영화 너무 재밌다 ㅋㅋ", "this movie is great",
                                 "오늘은밥을안먹었다"] * 40), encoding="utf-8")
    out = tiny_neural(arch, corpus, tmp_path / "m")
    lm = load_model(out, arch).engine.lm
    ids = [5, 9, 3, 17, 2, 11, 30]
    stepped = lm.start()
    for i in ids:
        stepped = lm.advance([stepped], [i])[0]
    fed = lm.feed(lm.start(), ids)
    np.testing.assert_allclose(fed.logprobs, stepped.logprobs, atol=1e-5)
    assert lm.feed(fed, []) is fed
    # from a state in the middle too
    half = lm.feed(lm.start(), ids[:3])
    np.testing.assert_allclose(lm.feed(half, ids[3:]).logprobs, stepped.logprobs, atol=1e-5)


@pytest.mark.parametrize("arch", ["lstm", "gru", "rnn", "window"])
def test_feeding_runs_of_several_lengths_at_once_equals_feeding_each(arch, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(["나는 밥을 먹었다", "영화 너무 재밌다 ㅋㅋ", "this movie is great",
                                 "오늘은밥을안먹었다"] * 40), encoding="utf-8")
    lm = load_model(tiny_neural(arch, corpus, tmp_path / "m"), arch).engine.lm
    starts = [lm.start(), lm.feed(lm.start(), [7, 8]), lm.start(), lm.feed(lm.start(), [3])]
    runs = [[5, 9, 3, 17, 2], [11], [], [30, 4, 4]]
    together = lm.feed_batch(starts, runs)
    assert together[2] is starts[2]  # an empty run leaves the state as it is
    for state, run, got in zip(starts, runs, together, strict=True):
        np.testing.assert_allclose(got.logprobs, lm.feed(state, run).logprobs, atol=1e-5)
        after = lm.advance([got], [6])[0]  # and the state goes on as the other would
        np.testing.assert_allclose(after.logprobs, lm.advance([lm.feed(state, run)], [6])[0]
                                   .logprobs, atol=1e-5)


def test_a_state_holds_its_own_row_not_a_view_of_its_batch(rnn_model_dir):
    """States are cached one by one and outlive their batch: each keeps a row of its own,
    so one kept state does not keep a whole round's distributions alive."""
    lm = load_model(rnn_model_dir, "lstm").engine.lm
    start = lm.start()
    states = lm.advance([start] * 8, list(range(3, 11)))
    fed = lm.feed_batch([start, start], [[5, 6], [7]])
    for s in [*states, *fed, lm.feed(start, [4, 5])]:
        assert s.logprobs.base is None and s.logprobs.flags.owndata
