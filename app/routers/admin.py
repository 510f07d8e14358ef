"""POST /admin/reload: load the configured model directory again and swap it in.

Included only when AUTOCOMPLETE_ADMIN_TOKEN is set; bearer auth, compared in constant time.
"""

from __future__ import annotations

import asyncio
import hmac
import os
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.deps import ServiceDep, SettingsDep
from app.schemas import MODEL_RESPONSES, ReloadRequest
from app.service import ReloadRefused

_bearer = HTTPBearer(auto_error=False)


def _require_admin(settings: SettingsDep,
                   credentials: Annotated[HTTPAuthorizationCredentials | None,
                                          Depends(_bearer)]) -> None:
    token = settings.admin_token
    given = credentials.credentials if credentials else ""
    if token is None or not hmac.compare_digest(given.encode(),
                                                token.get_secret_value().encode()):
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


router = APIRouter(tags=["admin"], dependencies=[Depends(_require_admin)])


@router.post("/admin/reload", summary="Reload the model directory",
             responses={400: MODEL_RESPONSES[400], 413: MODEL_RESPONSES[413],
                        401: {"description": "missing or wrong bearer token"},
                        403: {"description": "model_dir names another directory"},
                        409: {"description": "the directory is unusable; the old model serves"}})
async def reload(service: ServiceDep, settings: SettingsDep,
                 body: Annotated[ReloadRequest | None, Body()] = None) -> dict:
    """Re-read AUTOCOMPLETE_MODEL_DIR (a new published version, say), verify every file and
    swap the models at once; requests in flight finish on the old ones. A directory that
    fails is refused and the old models keep serving. The SIGHUP signal does the same."""
    if body is not None and body.model_dir is not None and \
            not names_configured(body.model_dir, settings.model_dir):
        raise HTTPException(403, "reload re-reads the configured model directory only "
                                 "(AUTOCOMPLETE_MODEL_DIR); it cannot be named over HTTP")
    try:
        snap = await asyncio.to_thread(service.reload)
    except ReloadRefused as e:
        current = service.snapshot
        raise HTTPException(409, f"reload refused: {e}; still serving {current.serving} "
                                 f"({current.version})") from None
    return {"status": "reloaded", "model": snap.serving, "models": [s.family for s in snap.slots],
            "version": snap.version, "state": snap.state, "reason": snap.reason}
