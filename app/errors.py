"""Error answers: 422 that names the field, 503 while no model serves, and a generic 500
that logs the stack trace and never sends it (nor a path) to the client."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from app.service import Overloaded, Unavailable
from models.limits import TooManyTokens

log = logging.getLogger("app.errors")


def field_error(loc: tuple[str | int, ...], msg: str,
                kind: str = "value_error") -> RequestValidationError:
    """A 422 for one field, shaped like pydantic's own errors."""
    return RequestValidationError([{"loc": loc, "msg": msg, "type": kind}])


def _where(error: dict[str, Any]) -> str:
    if error["type"] == "json_invalid":  # its loc ends in a character position, not a field
        return "body"
    parts = [str(p) for p in error["loc"] if p not in ("body", "query")]
    return ".".join(parts) or "body"


def _msg(error: dict[str, Any]) -> str:
    """pydantic's message, except where it misleads: a body FastAPI did not read as JSON
    (no JSON content type) reaches the model as raw bytes, "not a valid dictionary"."""
    if error.get("type") == "model_attributes_type" and isinstance(error.get("input"), bytes):
        return "expected a JSON object sent with Content-Type: application/json"
    return error.get("msg", "invalid")


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422: ``message`` names every bad field; ``detail`` keeps pydantic's list, less the
    echoed input (it may be a whole long text)."""
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e.get("loc", ())), "msg": _msg(e),
               "type": e.get("type", "value_error")} for e in exc.errors()]
    message = "; ".join(f"{_where(e)}: {e['msg']}" for e in errors)
    return JSONResponse({"detail": errors, "message": message}, status_code=422)


async def too_many_tokens(request: Request, exc: Exception) -> JSONResponse:
    """422 for a part of a request over its token limit that a router did not name itself
    (the routers turn ``TooManyTokens`` into a field's 422 where they know the field)."""
    assert isinstance(exc, TooManyTokens)
    return await validation_error(request, field_error(("body", exc.part), str(exc),
                                                       "too_many_tokens"))


async def unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503 while no model can answer; /ready says more."""
    return JSONResponse({"detail": f"no model is serving: {exc}"}, status_code=503,
                        headers={"Retry-After": str(request.app.state.settings.retry_after_s)})


async def overloaded(request: Request, exc: Exception) -> JSONResponse:
    """503 while the models are too busy to answer in time; try again shortly."""
    return JSONResponse({"detail": f"the service is busy: {exc}"}, status_code=503,
                        headers={"Retry-After": str(request.app.state.settings.retry_after_s)})


async def http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's answer to an HTTPException, except that a 405's Allow header lists every
    method the OpenAPI document gives the path (the router names only those of the first
    route that matched: ``Allow: POST`` for /complete, which answers GET too)."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        methods = request.app.openapi().get("paths", {}).get(request.scope["path"], {})
        if methods:
            allow = ", ".join(sorted(m.upper() for m in methods))
            exc = HTTPException(405, exc.detail, headers={"Allow": allow})
    return await http_exception_handler(request, exc)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """500 with an id to find the logged stack trace by; nothing of the exception itself."""
    error_id = uuid.uuid4().hex[:12]
    log.error("unhandled error %s in %s %s", error_id, request.method, request.url.path,
              exc_info=exc)
    return JSONResponse({"detail": "internal server error", "error_id": error_id},
                        status_code=500)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(TooManyTokens, too_many_tokens)
    app.add_exception_handler(Unavailable, unavailable)
    app.add_exception_handler(Overloaded, overloaded)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
