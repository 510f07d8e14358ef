"""bench/quality.py's serving figures are cached per served model version, never reused
for another model."""

from __future__ import annotations

import json

import pytest

from bench import quality
from tests.conftest import SAMPLE


@pytest.mark.slow
def test_serving_figures_are_reused_only_for_the_same_model_version(model_dir, tmp_path):
    first = quality.serve(model_dir, tmp_path, 1, SAMPLE)
    assert first and len(first["phases"]) == 4
    out = tmp_path / "results" / "serve-1s.json"
    measured = out.stat().st_mtime_ns
    assert quality.serve(model_dir, tmp_path, 1, SAMPLE) == first
    assert out.stat().st_mtime_ns == measured  # the same version: read back, not measured
    out.write_text(json.dumps(first | {"key": first["key"] + " 1999-01-01"}))  # another version
    stale = out.stat().st_mtime_ns
    again = quality.serve(model_dir, tmp_path, 1, SAMPLE)
    assert again and again["key"] == first["key"]
    assert out.stat().st_mtime_ns != stale  # measured again


def _row(name: str, family: str, vocab: int | None, bpc: float) -> dict:
    rate = {"hit@1": 0.1, "hit@3": 0.2}
    row = {"name": name, "family": family, "bpc": bpc, "next_word": rate, "prefix": rate,
           "ksr": {"ksr": 0.2}, "ksr_keys": {"ksr": 0.3}, "disk_bytes": 1e6,
           "memory_bytes": 1e6, "train_seconds": 60.0, "latency_ms": {"p50": 1.0, "p99": 2.0}}
    return row | ({"vocab": vocab} if vocab else {})


def _report(tmp_path, rows) -> str:
    from bench.report import write_report

    write_report(rows, {}, None, tmp_path, {"quick": True, "minutes": 1.0, "sentences": 30,
                                            "family_sentences": 30, "machine": "test",
                                            "wall_minutes": 0.1, "load": 0.0})
    return (tmp_path / "benchmarks.md").read_text(encoding="utf-8")


def test_report_names_the_vocabulary_of_a_row_that_differs_from_the_rest(tmp_path):
    text = _report(tmp_path, [_row("served-gru+ngram", "gru+ngram", 16000, 3.4),
                              _row("ngram5", "ngram", 8000, 3.6),
                              _row("gru-3min", "gru", 8000, 4.6)])
    assert "SentencePiece 8K pieces shared by every model unless its row names another" in text
    assert "| served-gru+ngram (16K pieces) | 3.400 |" in text
    assert "| ngram5 | 3.600 |" in text and "| gru-3min | 4.600 |" in text


def test_report_with_one_vocabulary_names_it_once(tmp_path):
    text = _report(tmp_path, [_row("ngram5", "ngram", 16000, 3.6), _row("ngram2", "ngram", None,
                                                                          3.9)])
    assert "SentencePiece 16K pieces shared by every model)" in text
    assert "| ngram5 | 3.600 |" in text and "(16K pieces)" not in text
