"""The OpenAPI document with the limits this instance enforces (they are settings, so the
request models cannot carry them): the largest ``k`` and ``max_words``, the longest ``text``
and ``next`` /probability scores, the longest ``q`` of /suggest and ``text`` of /learn, as
``maximum`` and ``maxLength``. A client (or a fuzzer) that keeps to the document is never
refused for a limit it could not see."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from app.settings import Settings


def _cap(schema: dict[str, Any], kind: str, key: str, value: int) -> None:
    """Set ``key`` on the ``kind`` branch of ``schema`` (``int | None`` is an anyOf)."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == kind:
            branch[key] = value


def _query_parameters(document: dict[str, Any], path: str) -> dict[str, Any]:
    """{name: schema} of the parameters of GET ``path``."""
    get = document.get("paths", {}).get(path, {}).get("get", {})
    return {p["name"]: p["schema"] for p in get.get("parameters", [])}


def advertise_limits(document: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``document`` with the settings' limits written into its request schemas."""
    limits = {("k", "integer", "maximum"): settings.k_max,
              ("max_words", "integer", "maximum"): settings.max_words_max}
    components = document.get("components", {}).get("schemas", {})
    complete = components.get("CompleteRequest", {}).get("properties", {})
    query = _query_parameters(document, "/complete")
    suggest = _query_parameters(document, "/suggest")
    for (name, kind, key), value in limits.items():
        for where in (complete, query, suggest):
            if name in where:
                _cap(where[name], kind, key, value)
    if "q" in suggest:  # the whole query comes back in every suggestion
        _cap(suggest["q"], "string", "maxLength", settings.max_text_chars)
    probability = components.get("ProbabilityRequest", {}).get("properties", {})
    longest = {"text": settings.max_text_chars,
               "next": min(settings.max_next_chars, settings.max_text_chars)}
    for name, value in longest.items():
        if name in probability:
            _cap(probability[name], "string", "maxLength", value)
    learn = components.get("LearnRequest", {}).get("properties", {})
    if "text" in learn:
        _cap(learn["text"], "string", "maxLength", settings.learn_max_chars)
    return document


def install(app: FastAPI, settings: Settings) -> None:
    """Serve ``/openapi.json`` with ``settings``' limits (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = advertise_limits(FastAPI.openapi(app), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
