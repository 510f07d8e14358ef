"""All settings in one class, read from AUTOCOMPLETE_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings


def test_defaults():
    s = Settings()
    assert s.model_dir == Path("models-data/default") and s.admin_token is None
    assert (s.host, s.port, s.k_max, s.max_words_max) == ("127.0.0.1", 8000, 20, 3)
    assert s.cors_origins == [] and s.max_concurrency >= 32


def test_environment_with_prefix(monkeypatch):
    monkeypatch.setenv("AUTOCOMPLETE_MODEL_DIR", "/models/nsmc")
    monkeypatch.setenv("AUTOCOMPLETE_DEADLINE_MS", "120")
    monkeypatch.setenv("AUTOCOMPLETE_ADMIN_TOKEN", "t0ken" * 8)
    monkeypatch.setenv("AUTOCOMPLETE_TORCH_THREADS", "2")
    s = Settings()
    assert s.model_dir == Path("/models/nsmc") and s.deadline_ms == 120
    assert s.admin_token.get_secret_value() == "t0ken" * 8 and "t0ken" not in repr(s)
    assert s.torch_threads == 2


@pytest.mark.parametrize(("raw", "origins"), [
    ("https://a.example, https://b.example", ["https://a.example", "https://b.example"]),
    ('["https://a.example"]', ["https://a.example"]),
    ("", []),
])
def test_cors_origins_comma_separated_or_json(monkeypatch, raw, origins):
    monkeypatch.setenv("AUTOCOMPLETE_CORS_ORIGINS", raw)
    assert Settings().cors_origins == origins


def test_nonsense_is_refused(monkeypatch):
    monkeypatch.setenv("AUTOCOMPLETE_MAX_CONCURRENCY", "0")
    with pytest.raises(ValidationError, match="max_concurrency"):
        Settings()
