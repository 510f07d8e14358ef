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
