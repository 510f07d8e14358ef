"""Dependencies of the routers, as typed ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.metrics import Metrics
from app.service import ModelService
from app.settings import Settings


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _service(request: Request) -> ModelService:
    return request.app.state.service


def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(_settings)]
ServiceDep = Annotated[ModelService, Depends(_service)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
