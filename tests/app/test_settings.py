"""All settings in one class, read from AUTOCOMPLETE_* variables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings


@pytest.fixture(autouse=True)
def no_settings_in_the_environment(monkeypatch):
    """Each test sees only the AUTOCOMPLETE_* variables it sets: the project's own image
    sets AUTOCOMPLETE_MODEL_DIR, a developer's shell may set others."""
    for name in list(os.environ):
        if name.upper().startswith("AUTOCOMPLETE_"):
            monkeypatch.delenv(name)


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


@pytest.mark.parametrize(("token", "says"), [
    ("", "the admin token is empty"),
    ("s3cret", "the admin token is 6 characters"),
    ("x" * 31, "31 characters"),
    (" " + "x" * 40, "surrounded by spaces"),
])
def test_an_empty_or_short_admin_token_is_refused_saying_why(monkeypatch, token, says):
    monkeypatch.setenv("AUTOCOMPLETE_ADMIN_TOKEN", token)
    with pytest.raises(ValidationError, match=says) as caught:
        Settings()
    assert "at least 32 characters" in str(caught.value)
    if token.strip():
        assert token.strip() not in str(caught.value)  # the token is not echoed


def test_the_admin_token_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("k" * 40 + "\n")
    monkeypatch.setenv("AUTOCOMPLETE_ADMIN_TOKEN_FILE", str(secret))
    assert Settings().admin_token.get_secret_value() == "k" * 40
    secret.write_text("short\n")
    with pytest.raises(ValidationError, match="5 characters"):
        Settings()
    monkeypatch.setenv("AUTOCOMPLETE_ADMIN_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValidationError, match="cannot be read"):
        Settings()
    secret.write_text("k" * 40)
    monkeypatch.setenv("AUTOCOMPLETE_ADMIN_TOKEN_FILE", str(secret))
    monkeypatch.setenv("AUTOCOMPLETE_ADMIN_TOKEN", "k" * 40)
    with pytest.raises(ValidationError, match="not both"):
        Settings()


@pytest.mark.parametrize("name", ["AUTOCOMPLETE_PREFER_NEURAL", "AUTOCOMPLETE_PREFER_RECURRENT"])
def test_prefer_neural_under_its_name_and_its_former_one(monkeypatch, name):
    assert Settings().prefer_neural is True and Settings(prefer_neural=False).prefer_neural is False
    monkeypatch.setenv(name, "false")
    assert Settings().prefer_neural is False
