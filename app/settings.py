"""Every setting and limit of the service, in one place (environment prefix ``AUTOCOMPLETE_``).

    AUTOCOMPLETE_MODEL_DIR=models-data/nsmc AUTOCOMPLETE_DEADLINE_MS=200 uvicorn app.main:app

Lists (``cors_origins``) are given comma-separated or as a JSON list.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """The service's configuration; each limit it enforces has a sane default here."""

    model_config = SettingsConfigDict(env_prefix="AUTOCOMPLETE_", extra="ignore")

    # --- the model -----------------------------------------------------------------
    model_dir: Path = Field(Path("models-data/default"),
                            description="model directory that train.py published")
    verify_hashes: bool = Field(True, description="check every file's sha256 before loading")
    prefer_recurrent: bool = Field(
        True, description="serve the recurrent model when the directory has one")
    beam_size: int = Field(12, ge=1, le=256, description="beam of the completion search")
    state_cache_size: int = Field(
        5000, ge=0,
        description="model states kept per model (a neural state holds its next-token "
                    "log-probabilities: 64 KB with 16K pieces)")
    max_context_chars: int = Field(400, ge=1,
                                   description="context the engine reads, from the right")
    torch_threads: int = Field(1, ge=1, le=64, description="torch.set_num_threads, if torch loads")
    keep_freed_memory: bool = Field(
        True, description="raise glibc's mmap and trim thresholds so the large arrays of a "
                          "keystroke reuse freed memory (models/memory.py); RSS stays at its peak")

    # --- the server ----------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed by CORS; empty: none")
    admin_token: SecretStr | None = Field(
        None, description="bearer token of POST /admin/reload; unset: the endpoint is off")
    cache_max_age: int = Field(60, ge=0, description="Cache-Control max-age of GET /complete")

    # --- limits --------------------------------------------------------------------
    max_body_bytes: int = Field(64 * 1024, ge=256, description="413 beyond this request body")
    max_text_chars: int = Field(10000, ge=1, description="longest text /probability scores")
    max_next_chars: int = Field(
        200, ge=1, description="longest next /probability scores: a recurrent model reads it a "
                               "token at a time, so its cost is bounded here")
    k_max: int = Field(20, ge=1, description="most completions one request may ask for")
    max_words_max: int = Field(3, ge=1, description="longest phrase one request may ask for")
    deadline_ms: float = Field(
        500.0, gt=0, description="a recurrent answer later than this is given by the n-gram")
    max_concurrency: int = Field(
        64, ge=1, description="model requests in flight; beyond it 503 with Retry-After")
    retry_after_s: int = Field(1, ge=0, description="Retry-After of a 503")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                return json.loads(value)
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments of the completion engine that the settings decide."""
        return {"beam_size": self.beam_size, "cache_size": self.state_cache_size,
                "max_context_chars": self.max_context_chars}


@lru_cache
def get_settings() -> Settings:
    """The settings read from the environment, once per process."""
    return Settings()
