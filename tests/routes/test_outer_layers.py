"""The layers outside FastAPI's stack (app.py `outer_layers`): named, routed, and safe to fail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.conftest import make_settings
from weather_api.app import WeatherApp, create_app
from weather_api.routes.city_fast_path import CityWeatherFastPath

T = TypeVar("T")


@asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of `app`, its lifespan run."""
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://testserver"
        ) as client,
    ):
        yield client


async def test_a_new_route_is_not_shadowed_by_the_city_fast_path() -> None:
    """A route added ahead of the city route gets its paths, though they read as a city."""
    app = create_app(make_settings(provider="sample"))

    async def status(code: str) -> dict[str, str]:
        return {"status": code}

    app.add_api_route("/status/{code}", status, methods=["GET"])
    # Where a new router goes in create_app: before the catch-all weather routes.
    app.router.routes.insert(0, app.router.routes.pop())
    async with client_of(app) as client:
        response = await client.get("/status/no")  # reads as a city "Status" in Norway
        city = await client.get("/oslo/no")
    assert response.status_code == 200
    assert response.json() == {"status": "no"}
    assert city.status_code == 200
    assert city.json()["sys"]["country"] == "NO"


class Broken:
    """An outer layer with a bug: it raises before answering."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raise RuntimeError("a bug outside FastAPI's stack")
        await self.app(scope, receive, send)


async def test_an_error_in_an_outer_layer_is_a_problem_500_with_the_request_id() -> None:
    """Not uvicorn's plain text: problem+json, the request id in the header and the body."""
    app = create_app(make_settings(provider="sample"))
    assert isinstance(app, WeatherApp)
    app.outer_layers = [*app.outer_layers, Broken]
    request_id = "0123456789abcdef0123456789abcdef"
    async with client_of(app) as client:
        response = await client.get("/london/uk/", headers={"X-Request-ID": request_id})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == request_id
    body = response.json()
    assert body["status"] == 500
    assert body["request_id"] == request_id
    assert body["instance"] == "/london/uk/"
    assert "bug" not in response.text  # the exception's text stays in the log


class BrokenMidAnswer:
    """An outer layer with a bug: it raises after starting its answer."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise RuntimeError("a bug outside FastAPI's stack, mid-answer")
        await self.app(scope, receive, send)


async def test_an_error_after_the_answer_started_is_not_answered_twice() -> None:
    """A second answer cannot follow a started one: the error goes to the server, which drops
    the connection, and no problem+json start is sent after the first."""
    app = create_app(make_settings(provider="sample"))
    assert isinstance(app, WeatherApp)
    app.outer_layers = [*app.outer_layers, BrokenMidAnswer]
    starts: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            starts.append(message["status"])

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/london/uk/",
        "raw_path": b"/london/uk/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1),
    }
    with pytest.raises(RuntimeError, match="mid-answer"):
        await app(scope, receive, send)  # the layer raises before anything needs the lifespan
    assert starts == [200]


def layer_of(app: FastAPI, kind: type[T]) -> T:
    """The instance of an outer layer in the app's built stack, found through each `.app`."""
    layer: object = app.middleware_stack
    while not isinstance(layer, kind):
        layer = getattr(layer, "app", None)
        assert layer is not None, f"no {kind.__name__} in the stack"
    return layer


async def test_a_city_hit_through_the_whole_app_is_answered_by_the_fast_path() -> None:
    """The fast path finds the city route among the app's routes (FastAPI keeps an included
    router as one route, `_IncludedRouter.original_router`: if that changes, this fails)."""
    app = create_app(make_settings(provider="sample"))
    async with client_of(app) as client:
        for _ in range(2):
            assert (await client.get("/london/uk/")).status_code == 200
        layer = layer_of(app, CityWeatherFastPath)
        assert layer.remembered == 1  # it answered, and remembered the query
        await client.get("/problems/location-not-found")  # another route's path
        assert layer.remembered == 1
