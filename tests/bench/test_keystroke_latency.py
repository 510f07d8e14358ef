"""bench/keystroke_latency.py: the same Korean keystrokes for each model, alternated."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench.keystroke_latency import requests

ROOT = Path(__file__).resolve().parents[2]


def test_each_word_is_asked_before_it_and_half_typed():
    texts = requests(["나는 밥을 먹었다", "ㅋㅋ"], 2, 0)
    assert "나는 밥을 " in texts and "나는 밥을 먹" in texts and "나는 밥을 먹었" in texts
    assert "" in texts and "ㅋ" in texts and "ㅋㅋ" in texts  # each sentence's first word
    assert len(texts) == 3 + 3 + 3 + 3  # 4 words of 2+ characters: 3 requests each


def test_two_models_side_by_side(model_dir, tmp_path):
    text = tmp_path / "typed.txt"
    text.write_text("나는 밥을 먹었다\n오늘 영화 재밌었다 ㅋㅋ\nthe movie was good\n", "utf-8")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "keystroke_latency.py"),
         f"{model_dir}:ngram", f"{model_dir}:ngram", "--file", str(text), "--sentences", "3"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith(str(model_dir))]
    assert len(rows) == 2 and "(1.00x the first at the median)" in rows[0]
    assert all(re.search(r"p50 [\d.]+ ms  p95 [\d.]+  p99 [\d.]+", r) for r in rows)
    assert done.stdout.startswith("33 requests each")  # 11 words, 3 requests each


def test_a_model_without_family_is_refused(model_dir, sample_corpus):
    # --file given: the NSMC default may be absent (a clone without ../shared)
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "keystroke_latency.py"),
                           "--file", str(sample_corpus), str(model_dir)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "expected DIR:FAMILY" in done.stderr


def test_concurrent_typists_in_process(rnn_model_dir, tmp_path):
    text = tmp_path / "typed.txt"
    text.write_text("나는 밥을 먹었다\n오늘 영화 재밌었다 ㅋㅋ\nthe movie was good\n"
                    "영화관에서팝콘먹음\n", "utf-8")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "keystroke_latency.py"), f"{rnn_model_dir}:lstm",
         "--file", str(text), "--sentences", "4", "--typists", "4", "--seconds", "1"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "4 typists at once, in process" in done.stdout
    row = done.stdout.splitlines()[-1]
    found = re.search(r"(\d+) requests/s, p50 [\d.]+ ms, p99 [\d.]+ ms, (\d+) states a round", row)
    assert found and int(found[1]) > 0 and int(found[2]) >= 1, row
