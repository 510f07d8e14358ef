"""Operations: liveness, readiness, the model's description, Prometheus metrics, a no-op."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.deps import MetricsDep, ServiceDep, SettingsDep
from app.routers.personal import UsersDep

router = APIRouter(tags=["operations"])

# Manifest entries a client has no use for and that would show the server's files.
_PRIVATE_KEYS = frozenset({"files", "path"})


def public_manifest(value: Any) -> Any:
    """The manifest less file hashes and paths (the corpus keeps name, size and sha256)."""
    if isinstance(value, dict):
        return {k: public_manifest(v) for k, v in value.items() if k not in _PRIVATE_KEYS}
    if isinstance(value, list):
        return [public_manifest(v) for v in value]
    return value


@router.get("/health", summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: 200 once a model answers, 503 before",
            responses={503: {"description": "no model answers yet, or none can be loaded"}})
async def ready(service: ServiceDep, users: UsersDep) -> JSONResponse:
    """Which model serves, which is still loading, and why the service is degraded
    (a model the directory lists could not be loaded) when it is. ``user_store``: whether
    the store of what users taught answers (while it does not, every answer is anonymous;
    the service stays ready)."""
    snap = service.snapshot
    body = {"status": snap.state, "model": snap.serving,
            "models": [s.family for s in snap.slots], "loading": snap.pending,
            "reason": snap.reason, "version": snap.version,
            "user_store": await users.health()}
    return JSONResponse(body, status_code=200 if snap.serving else 503)


@router.get("/model", summary="The model directory's manifest (no file hashes)",
            responses={503: {"description": "no model loaded"}})
async def model(service: ServiceDep, settings: SettingsDep) -> JSONResponse:
    """Families, sizes, corpus fingerprint and validation figures (BPC is bits per character)
    of the loaded directory, and which family serves."""
    snap = service.snapshot
    if snap.manifest is None:
        return JSONResponse({"detail": "no model loaded", "reason": snap.reason},
                            status_code=503,
                            headers={"Retry-After": str(settings.retry_after_s)})
    return JSONResponse({
        "serving": snap.serving, "state": snap.state, "version": snap.version,
        "loaded": {s.family: {"load_seconds": round(s.model.load_seconds, 3)}
                   for s in snap.slots},
        "manifest": public_manifest(snap.manifest)})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(m: MetricsDep) -> Response:
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/noop", summary="Does nothing: the HTTP baseline of the benchmark")
async def noop() -> dict[str, bool]:
    return {"ok": True}
