"""POST /admin/reload: load the configured model directory again and swap it in.

Included only when AUTOCOMPLETE_ADMIN_TOKEN (or AUTOCOMPLETE_ADMIN_TOKEN_FILE) is set, to a
token of 32 characters or more; bearer auth, compared in constant time, before the body is
parsed (the body is read by hand, after the check). One reload at a time: another one while
it runs is answered 409 at once.
"""

from __future__ import annotations

import hmac
import json
import os
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from app.deps import ServiceDep, SettingsDep
from app.errors import field_error
from app.lifecycle import ReloadBusy, reloader
from app.schemas import MODEL_RESPONSES, ReloadRequest
from app.service import ReloadRefused

_bearer = HTTPBearer(auto_error=False)


def _require_admin(settings: SettingsDep,
                   credentials: Annotated[HTTPAuthorizationCredentials | None,
                                          Depends(_bearer)]) -> None:
    token = settings.admin_token
    given = credentials.credentials if credentials else ""
    if token is None or not given or not hmac.compare_digest(
            given.encode(), token.get_secret_value().encode()):
        raise HTTPException(401, "a valid bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})


def names_configured(wanted: str, configured: Path) -> bool:
    """Whether ``wanted`` (from a request) names the configured directory. Decided on the
    strings alone: a path from a request is never looked up on the filesystem (only the
    configured one is resolved), and a NUL or an unknown name is simply not it."""
    if "\0" in wanted:
        return False
    lexical = os.path.normpath(os.path.join(os.getcwd(), wanted))
    return lexical in {os.path.normpath(configured.absolute()), str(configured.resolve())}


async def _body(request: Request) -> ReloadRequest | None:
    """The optional JSON body, parsed only now: FastAPI would parse a declared body before
    any dependency ran, so a client without the token could have its JSON read."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except ValueError as e:  # not JSON, or not UTF-8
        raise field_error(("body",), f"JSON decode error: {type(e).__name__}",
                          "json_invalid") from None
    if data is None:
        return None
    try:
        return ReloadRequest.model_validate(data)
    except ValidationError as e:
        raise RequestValidationError(
            [{"loc": ("body", *err["loc"]), "msg": err["msg"], "type": err["type"]}
             for err in e.errors()]) from None


router = APIRouter(tags=["admin"], dependencies=[Depends(_require_admin)])


@router.post("/admin/reload", summary="Reload the model directory",
             openapi_extra={"requestBody": {"required": False, "content": {
                 "application/json": {"schema": {"anyOf": [ReloadRequest.model_json_schema(),
                                                           {"type": "null"}]}}}}},
             responses={400: MODEL_RESPONSES[400], 413: MODEL_RESPONSES[413],
                        401: {"description": "missing or wrong bearer token (checked before "
                                             "the body is parsed)"},
                        403: {"description": "model_dir names another directory"},
                        409: {"description": "the directory is unusable (the old model "
                                             "serves), or another reload is running"},
                        422: {"description": "the body is not JSON, or not a ReloadRequest"}})
async def reload(request: Request, service: ServiceDep, settings: SettingsDep) -> dict:
    """Re-read AUTOCOMPLETE_MODEL_DIR (a new published version, say), verify every file and
    swap the models at once; requests in flight finish on the old ones. A directory that
    fails is refused and the old models keep serving. The SIGHUP signal does the same."""
    body = await _body(request)
    if body is not None and body.model_dir is not None and \
            not names_configured(body.model_dir, settings.model_dir):
        raise HTTPException(403, "reload re-reads the configured model directory only "
                                 "(AUTOCOMPLETE_MODEL_DIR); it cannot be named over HTTP")
    try:
        snap = await reloader(request.app).reload()
    except ReloadBusy:
        raise HTTPException(409, "a reload is already running; ask again once it is done",
                            headers={"Retry-After": str(settings.retry_after_s)}) from None
    except ReloadRefused as e:
        current = service.snapshot
        raise HTTPException(409, f"reload refused: {e}; still serving {current.serving} "
                                 f"({current.version})") from None
    return {"status": "reloaded", "model": snap.serving, "models": [s.family for s in snap.slots],
            "version": snap.version, "state": snap.state, "reason": snap.reason}
