"""What handlers receive from the lifespan, as `Annotated` dependencies."""

from __future__ import annotations

from typing import Annotated, TypedDict

from fastapi import Depends, Request

from weather_api.config import Settings
from weather_api.lifecycle import Readiness
from weather_api.service import WeatherService

# The getters are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker
# thread, which costs more than the whole cache hit.


class AppState(TypedDict):
    """Built by the lifespan, handed to every request."""

    settings: Settings
    service: WeatherService
    readiness: Readiness


async def _service(request: Request) -> WeatherService:
    service: WeatherService = request.state.service
    return service


async def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


async def _readiness(request: Request) -> Readiness:
    readiness: Readiness = request.state.readiness
    return readiness


ServiceDep = Annotated[WeatherService, Depends(_service)]
SettingsDep = Annotated[Settings, Depends(_settings)]
ReadinessDep = Annotated[Readiness, Depends(_readiness)]
