"""scripts/train.py --bf16 on a CPU without AVX512-BF16 or AMX, imitated on any x86 machine
by the variables that cap oneDNN's and PyTorch's instruction sets: `on` is refused at once
(before the tokenizer is trained) with the reason, and `auto` trains an LSTM in float32
where the bf16 LSTM would have crashed in oneDNN."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from models.artifacts import read_manifest
from models.devices import bf16_supported

ROOT = Path(__file__).resolve().parents[2]
CAPS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")
AVX2_ONLY = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
LINES = ["나는 밥을 먹었다", "나 저녁에 불고기 먹음 ㅋㅋ", "오늘 영화 진짜 재밌었어",
         "밥먹고영화봤다", "이 영화 너무 지루했어 ㅠㅠ", "this movie is really good",
         "I really liked the movie", "the food was great", "오늘 너무 힘들어",
         "친구랑 밥 먹고 영화 봤어"]

pytestmark = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                                reason="the instruction-set caps imitated here are x86's")


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(LINES * 12) + "\n", encoding="utf-8")
    return path


def train(corpus: Path, out: Path, caps: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """train.py on a tiny LSTM; ``caps`` replace this process's instruction-set caps."""
    env = {k: v for k, v in os.environ.items() if not caps or k not in CAPS}
    cmd = [sys.executable, str(ROOT / "scripts" / "train.py"), "--corpus", str(corpus),
           "--out", str(out), "--order", "2", "--vocab-size", "120", "--arch", "lstm",
           "--embed-dim", "16", "--hidden-size", "32", "--epochs", "1", "--batch-tokens", "256",
           "--threads", "1", "--no-progress", *args]
    return subprocess.run(cmd, env=env | caps, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_bf16_on_is_refused_at_once_on_a_cpu_without_bf16(corpus, tmp_path):
    out = tmp_path / "model"
    done = train(corpus, out, AVX2_ONLY, "--bf16", "on")
    assert done.returncode == 2, done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("train.py: error: --bf16 on: ")
    assert "AVX512-BF16" in error and "AMX" in error and "--bf16 auto" in error
    assert done.stdout == "" and not out.exists()  # no tokenizer, no n-gram: refused first


@pytest.mark.parametrize("caps", [AVX2_ONLY, {}], ids=["avx2-only", "this-cpu"])
def test_bf16_auto_trains_the_lstm_in_float32_where_bf16_is_missing(corpus, tmp_path, caps):
    """(With bf16, on a CPU that has it, the same run trains in bfloat16.)"""
    out = tmp_path / "model"
    done = train(corpus, out, caps, "--bf16", "auto")
    assert done.returncode == 0, done.stderr[-2000:]
    used = read_manifest(out)["models"]["lstm"]["training"]["bf16"]
    assert used is (False if caps else bf16_supported("cpu"))
