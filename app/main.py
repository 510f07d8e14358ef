"""Assembles the app: settings, models service, middleware, error handlers, routers.

    uvicorn app.main:app            (or ``make run``; settings from AUTOCOMPLETE_* variables)
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from app import errors, openapi
from app.lifecycle import lifespan
from app.metrics import Metrics
from app.middleware import LimitsMiddleware, MetricsMiddleware
from app.routers import admin, complete, demo, ops, personal, probability, suggest
from app.routers.demo import STATIC
from app.service import ModelService
from app.settings import Settings, get_settings
from app.users import Limits, Users, open_store
from models.personal import PersonalConfig

DESCRIPTION = """Word autocompletion, Korean first and English too: for every keystroke the
next word or the rest of the word being typed, a half-typed Hangul syllable included
(`머` finds `먹었다`). Probabilities are 0..1; every `log_prob` is a natural log (ln).
Try it at [/](/)."""

MODEL_PATHS = ("/complete", "/probability", "/suggest")


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app on ``settings`` (default: from the environment)."""
    settings = settings or get_settings()
    metrics = Metrics()
    # /docs loads Swagger UI from the app itself (fastapi-offline), no CDN; no /redoc: its
    # sidebar still fetches a logo from cdn.redoc.ly
    app = FastAPIOffline(title="autocomplete", version="0.1.0", description=DESCRIPTION,
                         lifespan=lifespan, redoc_url=None)
    app.state.settings, app.state.metrics = settings, metrics
    app.state.service = ModelService(settings, metrics)
    app.state.users = Users(open_store(settings.user_store, Limits(
        settings.user_max_texts, settings.user_max_chars, settings.user_ttl_s),
        settings.user_store_timeout_ms / 1000), settings.user_cache_users,
        settings.user_cache_s, settings.user_store_retry_s,
        PersonalConfig(len(w), tuple(w)) if (w := settings.personal_weights) else None)
    errors.install(app)
    openapi.install(app, settings)
    routers = [complete.router, suggest.router, probability.router, personal.router,
               ops.router, demo.router]
    if settings.admin_token is not None:
        routers.append(admin.router)
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # the last added runs first: metrics see everything, CORS headers reach 413 and 503 too
    app.add_middleware(LimitsMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes,
                       max_concurrency=settings.max_concurrency,
                       retry_after_s=settings.retry_after_s, limited_paths=MODEL_PATHS)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Content-Type", "Authorization"],
                           expose_headers=["Server-Timing", "Retry-After"])
    known = [getattr(r, "path", "") for r in [*app.routes, *(r for x in routers for r in x.routes)]]
    app.add_middleware(MetricsMiddleware, metrics=metrics, known_paths=known)
    return app


app = create_app()
