"""Small helpers the routers share: the range checks that depend on settings, Server-Timing."""

from __future__ import annotations

import math

from fastapi import Response

from app.errors import field_error
from app.service import Answer


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


def timed(response: Response, answer: Answer) -> float:
    """Set Server-Timing (the model's time, who answered, why a fallback) and return the
    model time in milliseconds for the body."""
    ms = answer.seconds * 1000
    timing = f'model;dur={ms:.3f};desc="{answer.model}"'
    if answer.fallback:
        timing += f', fallback;desc="{answer.fallback}"'
    response.headers["Server-Timing"] = timing
    return round(ms, 3)


def log_prob(value: float) -> float:
    """A natural-log probability as the API gives it: at most 0 (rounding can overshoot)."""
    return min(float(value), 0.0)


def finite(value: float) -> float | None:
    """``value``, or None where it is not a finite number (JSON has no infinity)."""
    return value if math.isfinite(value) else None
