"""Every setting and limit of the service, in one place (environment prefix ``AUTOCOMPLETE_``).

    AUTOCOMPLETE_MODEL_DIR=models-data/nsmc AUTOCOMPLETE_DEADLINE_MS=200 uvicorn app.main:app

Lists (``cors_origins``) are given comma-separated or as a JSON list.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.limits import TokenLimits
from models.readings import Readings

MIN_ADMIN_TOKEN_CHARS = 32
MiB = 1 << 20


class Settings(BaseSettings):
    """The service's configuration; each limit it enforces has a sane default here."""

    # hide_input_in_errors: a refused admin token must not be echoed into the log
    # populate_by_name: Settings(prefer_neural=False) as well as its environment variable
    model_config = SettingsConfigDict(env_prefix="AUTOCOMPLETE_", extra="ignore",
                                      hide_input_in_errors=True, populate_by_name=True)

    # --- the model -----------------------------------------------------------------
    model_dir: Path = Field(Path("models-data/default"),
                            description="model directory that train.py published")
    verify_hashes: bool = Field(True, description="check every file's sha256 before loading")
    # AUTOCOMPLETE_PREFER_NEURAL; the name it had, AUTOCOMPLETE_PREFER_RECURRENT, still works
    prefer_neural: bool = Field(
        True, validation_alias=AliasChoices("AUTOCOMPLETE_PREFER_NEURAL",
                                            "AUTOCOMPLETE_PREFER_RECURRENT"),
        description="serve the neural model (lstm, gru, rnn or window, or its interpolation "
                    "with the n-gram) when the directory has one; false: the n-gram only")
    beam_size: int = Field(12, ge=1, le=256, description="beam of the completion search")
    # the other readings of what is typed (models/readings.py); a request may turn each off
    read_initials: bool = Field(
        True, description="two or more initial consonants (ㅅㄱ) are also read as the "
                          "initials of a word's syllables (사과); ㅋㅋ still completes as typed")
    read_layout: bool = Field(
        True, description="Latin letters that spell Hangul on the 2-beolsik layout (dkssud) "
                          "are also read as that Hangul (안녕), the context too")
    read_typo: bool = Field(
        True, description="a Hangul word with one key wrong, Shift missed or a neighbouring "
                          "key hit (먹엇다, 먹었자 for 먹었다), is also read as the word meant")
    state_cache_size: int = Field(
        5000, ge=0,
        description="model states kept per model (a neural state holds its next-token "
                    "log-probabilities: 4 bytes a piece; docs/operations.md)")
    state_cache_bytes: int = Field(
        256 * MiB, ge=0, description="bytes of model states (and their keys) kept per model")
    ngram_cache_bytes: int = Field(
        64 * MiB, ge=0, description="bytes of next-token rows each n-gram keeps (float64: "
                                    "8 bytes a piece a row; docs/operations.md)")
    max_context_chars: int = Field(400, ge=1,
                                   description="context the engine reads, from the right")
    torch_threads: int = Field(
        1, ge=1, le=64, description="threads of torch and of BLAS (models/threads.py): one, "
                                     "since a model runs in one thread and batches requests")
    keep_freed_memory: bool = Field(
        True, description="raise glibc's mmap and trim thresholds so the large arrays of a "
                          "keystroke reuse freed memory (models/memory.py); RSS stays at its peak")

    # --- the server ----------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed by CORS; empty: none")
    admin_token: SecretStr | None = Field(
        None, description="bearer token of POST /admin/reload, at least 32 characters; "
                          "unset: the endpoint is off")
    admin_token_file: Path | None = Field(
        None, description="file that holds the admin token (a Docker or Kubernetes secret)")
    cache_max_age: int = Field(60, ge=0, description="Cache-Control max-age of GET /complete")

    # --- limits --------------------------------------------------------------------
    max_body_bytes: int = Field(64 * 1024, ge=256, description="413 beyond this request body")
    max_text_chars: int = Field(10000, ge=1, description="longest text /probability scores")
    max_next_chars: int = Field(
        200, ge=1, description="longest next /probability scores: a neural model reads it a "
                               "token at a time, so its cost is bounded here")
    max_context_tokens: int = Field(
        600, ge=1, description="most pieces (tokens) of the context the engine reads (its last "
                               "max_context_chars characters); 422 beyond")
    max_text_tokens: int = Field(15000, ge=1,
                                 description="most pieces of a text /probability scores")
    max_next_tokens: int = Field(300, ge=1, description="most pieces of /probability's next")
    k_max: int = Field(20, ge=1, description="most completions one request may ask for")
    max_words_max: int = Field(3, ge=1, description="longest phrase one request may ask for")
    deadline_ms: float = Field(
        500.0, gt=0, description="a neural answer later than this is given by the n-gram")
    max_scoring: int = Field(
        4, ge=1, description="whole texts (/probability without next) being scored or waiting "
                             "for the one scoring thread a model has beside the keystrokes' "
                             "batches; beyond, 503 with Retry-After")
    ngram_deadline_ms: float = Field(
        5000.0, gt=0, description="the n-gram's own deadline (as fallback or as the only "
                                  "model): past it the request is dropped and answered 503")
    max_concurrency: int = Field(
        64, ge=1, description="model requests in flight; beyond it 503 with Retry-After")
    retry_after_s: int = Field(1, ge=0, description="Retry-After of a 503")
    timing_resolution_ms: float = Field(
        5.0, gt=0, description="took_ms and Server-Timing's model time are rounded up to a "
                               "multiple of this, so the time of a cached answer is not told")
    expose_timing: bool = Field(
        True, description="false: took_ms is 0 and Server-Timing carries no duration")

    # --- what users teach (POST /learn; app/users.py, models/personal.py) -----------
    user_store: str = Field(
        "memory", description="where learned text lives: memory (this process), "
                              "sqlite:///PATH (the processes of one host) or "
                              "redis://HOST:PORT/DB (every replica)")
    user_ttl_s: float = Field(30 * 86400.0, gt=0,
                              description="a learned sentence is forgotten this long after")
    user_max_texts: int = Field(200, ge=1,
                                description="sentences kept a user; the oldest go first")
    user_max_chars: int = Field(10000, ge=1, description="characters kept a user, all "
                                                         "sentences together; the oldest go first")
    learn_max_chars: int = Field(1000, ge=1, description="longest text one /learn takes")
    user_cache_users: int = Field(
        500, ge=1, description="users whose texts and models a replica keeps in memory "
                               "(the least recently used go first; what each one costs at "
                               "USER_MAX_CHARS: docs/operations.md)")
    user_cache_s: float = Field(300.0, gt=0, description="a replica forgets a user idle "
                                                         "this long (what it holds of them)")
    user_store_timeout_ms: float = Field(
        250.0, gt=0, description="a store call slower than this fails: anonymous answers")
    user_store_retry_s: float = Field(
        2.0, ge=0, description="after a failure the store is left alone this long "
                               "(answers stay anonymous without waiting for it)")
    personal_weights: Annotated[list[float], NoDecode] = Field(
        default_factory=list, description="the user model's weight for each length of the "
                                          "context the user wrote (comma-separated, one per "
                                          "order: 0.025,0.05,0.075,0.185); empty: the tuned ones")

    # --- the edge (python -m app and the image's entrypoint) ------------------------
    request_timeout_s: float = Field(
        10.0, gt=0, description="a request's headers and body must arrive within this, from "
                                "its first byte (or from the connection); slower: 408, closed")
    keep_alive_s: int = Field(
        75, ge=1, description="idle keep-alive connections are closed after this (longer "
                              "than a proxy's upstream keep-alive: nginx's is 60 s)")
    max_connections: int = Field(
        512, ge=1, description="connections and requests at once; beyond, uvicorn answers 503")
    forwarded_allow_ips: str = Field(
        "127.0.0.1", description="proxies whose X-Forwarded-For is believed (addresses or "
                                 "networks, comma-separated); never * on an open network")
    graceful_shutdown_s: int = Field(10, ge=0, description="SIGTERM: time to finish requests")
    access_log: bool = Field(True, description="uvicorn's access log")
    log_query_strings: bool = Field(
        False, description="keep query strings (GET /complete?q=, what people type) in the "
                           "access log; by default the log shows the path alone")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                return json.loads(value)
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("personal_weights", mode="before")
    @classmethod
    def _split_weights(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [float(v) for v in value.split(",") if v.strip()]
        if value and (len(value) > 4 or not all(0 <= w < 1 for w in value)):
            raise ValueError("AUTOCOMPLETE_PERSONAL_WEIGHTS: one to four weights in [0, 1)")
        return value

    @field_validator("user_store")
    @classmethod
    def _store_url(cls, value: str) -> str:
        """memory, sqlite:///PATH or a Redis URL; a wrong one is refused without being
        echoed (a Redis URL may hold a password)."""
        if value != "memory" and not value.startswith(("sqlite:///", "redis://", "rediss://",
                                                       "unix://")):
            raise ValueError("AUTOCOMPLETE_USER_STORE must be memory, sqlite:///PATH or "
                             "redis://HOST:PORT/DB")
        return value

    @model_validator(mode="after")
    def _admin_token(self) -> Settings:
        """The token from AUTOCOMPLETE_ADMIN_TOKEN_FILE, if named; either way, a token that
        is set must be long enough to guess at no better than chance: an empty one (what
        ``${ADMIN_TOKEN}`` gives compose when the variable is unset) would open the door."""
        if self.admin_token_file is not None:
            if self.admin_token is not None:
                raise ValueError("set AUTOCOMPLETE_ADMIN_TOKEN or AUTOCOMPLETE_ADMIN_TOKEN_FILE, "
                                 "not both")
            try:
                text = self.admin_token_file.read_text(encoding="utf-8")
            except (OSError, UnicodeError) as e:
                raise ValueError(f"AUTOCOMPLETE_ADMIN_TOKEN_FILE cannot be read "
                                 f"({type(e).__name__})") from None
            self.admin_token = SecretStr(text.strip())
        if self.admin_token is not None:
            token = self.admin_token.get_secret_value()
            what = ("empty" if not token else "surrounded by spaces" if token != token.strip()
                    else f"{len(token)} characters" if len(token) < MIN_ADMIN_TOKEN_CHARS
                    else None)
            if what:
                raise ValueError(
                    f"the admin token is {what}: it must be at least {MIN_ADMIN_TOKEN_CHARS} "
                    f"characters without spaces around them (python -c 'import secrets; "
                    f"print(secrets.token_urlsafe(32))'), or AUTOCOMPLETE_ADMIN_TOKEN left "
                    f"unset to turn /admin off")
        return self

    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments of ``models.loading.load_model`` that the settings decide."""
        return {"beam_size": self.beam_size, "cache_size": self.state_cache_size,
                "cache_bytes": self.state_cache_bytes, "max_context_chars": self.max_context_chars,
                "ngram_cache_bytes": self.ngram_cache_bytes}

    def readings(self, initials: bool | None = None, layout: bool | None = None,
                 typo: bool | None = None) -> Readings:
        """The readings a completion tries: a request's choice, else these settings'."""
        return Readings(initials=self.read_initials if initials is None else initials,
                        layout=self.read_layout if layout is None else layout,
                        typo=self.read_typo if typo is None else typo)

    def token_limits(self) -> TokenLimits:
        """The most pieces each part of a request may hold (``models/limits.py``)."""
        return TokenLimits(context=self.max_context_tokens, text=self.max_text_tokens,
                           next=self.max_next_tokens)


@lru_cache
def get_settings() -> Settings:
    """The settings read from the environment, once per process."""
    return Settings()
