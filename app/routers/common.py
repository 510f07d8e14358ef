"""Small helpers the routers share: the range checks that depend on settings, the token
limits' 422, Server-Timing."""

from __future__ import annotations

import math

from fastapi import Response

from app.errors import field_error
from app.service import Answer
from app.settings import Settings
from models.limits import TooManyTokens


def in_range(loc: tuple[str, str], value: int | None, default: int, highest: int) -> int:
    """``value`` (or the default, capped) if it is at most ``highest``; else a 422 naming it."""
    if value is None:
        return min(default, highest)
    if value > highest:
        raise field_error(loc, f"Input should be less than or equal to {highest}",
                          "less_than_equal")
    return value


def at_most_chars(loc: tuple[str, str], text: str | None, limit: int) -> None:
    """A 422 naming the field when ``text`` is longer than ``limit`` characters."""
    if text is not None and len(text) > limit:
        raise field_error(loc, f"String should have at most {limit} characters", "string_too_long")


def refuse_if_over(value: object, loc: dict[str, tuple[str, str]]) -> None:
    """A 422 naming the field when the work handed back a refusal (``TooManyTokens``, the
    part over its limit) instead of an answer; ``loc`` maps the part to the field."""
    if isinstance(value, TooManyTokens):
        raise field_error(loc[value.part], str(value), "too_many_tokens")


def timed(response: Response, answer: Answer, settings: Settings) -> float:
    """Set Server-Timing (the model's time, who answered, why a fallback) and return the
    model time in milliseconds for the body: rounded up to AUTOCOMPLETE_TIMING_RESOLUTION_MS
    (a state cache hit on another user's text is not told from a miss to the microsecond),
    or left out (0 in the body) with AUTOCOMPLETE_EXPOSE_TIMING=false."""
    if settings.expose_timing:
        step = settings.timing_resolution_ms
        ms = round(max(math.ceil(answer.seconds * 1000 / step), 1) * step, 3)
        timing = f'model;dur={ms:g};desc="{answer.model}"'
    else:
        ms, timing = 0.0, f'model;desc="{answer.model}"'
    if answer.fallback:
        timing += f', fallback;desc="{answer.fallback}"'
    response.headers["Server-Timing"] = timing
    return ms


def log_prob(value: float) -> float:
    """A natural-log probability as the API gives it: at most 0 (rounding can overshoot)."""
    return min(float(value), 0.0)


def finite(value: float) -> float | None:
    """``value``, or None where it is not a finite number (JSON has no infinity)."""
    return value if math.isfinite(value) else None
