"""What handlers receive from the lifespan, as `Annotated` dependencies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypedDict, cast

from fastapi import Depends, Request

from weather_api.config import Settings
from weather_api.lifecycle import Readiness
from weather_api.service import WeatherService

if TYPE_CHECKING:
    from starlette.types import Scope

# The getters are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker
# thread, which costs more than the whole cache hit.


class AppState(TypedDict):
    """Built by the lifespan, handed to every request."""

    settings: Settings
    service: WeatherService
    readiness: Readiness


def lifespan_state(scope: Scope) -> AppState | None:
    """The one typed reading of what the lifespan handed this request (None: no lifespan ran).

    For dependencies and for the pure ASGI layers (routes/city_fast_path.py) alike.
    """
    state = scope.get("state")
    return cast("AppState", state) if state else None


def _state(request: Request) -> AppState:
    state = lifespan_state(request.scope)
    if state is None:
        raise RuntimeError("the app's lifespan has not run: nothing to hand to the handler")
    return state


async def _service(request: Request) -> WeatherService:
    return _state(request)["service"]


async def _settings(request: Request) -> Settings:
    return _state(request)["settings"]


async def _readiness(request: Request) -> Readiness:
    return _state(request)["readiness"]


ServiceDep = Annotated[WeatherService, Depends(_service)]
SettingsDep = Annotated[Settings, Depends(_settings)]
ReadinessDep = Annotated[Readiness, Depends(_readiness)]
