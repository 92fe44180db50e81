"""Valid city requests are answered before FastAPI; everything else reaches FastAPI."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.conftest import make_settings
from weather_api.app import create_app
from weather_api.cache import Cached, CacheStatus
from weather_api.config import Settings
from weather_api.errors import LocationNotFound
from weather_api.routes.city_fast_path import MEMO_ENTRIES, MEMO_KEY_CHARS, CityWeatherFastPath


@asynccontextmanager
async def fast_and_route(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    """Two clients of one running app: the full stack, and FastAPI's stack without the layer.

    Both share the app's service and cache; requests must take turns (the app's stack is
    swapped for each one).
    """
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        stacks = {"fast": app.middleware_stack, "route": FastAPI.build_middleware_stack(app)}

        def via(name: str) -> ASGIApp:
            async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
                app.middleware_stack = stacks[name]
                await manager.app(scope, receive, send)

            return asgi

        def client(name: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(transport=httpx.ASGITransport(via(name)), base_url="http://t")

        async with client("fast") as fast, client("route") as route:
            yield fast, route


class Recorder:
    """A downstream ASGI app that records what reaches it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


class Service:
    """Stands in for WeatherService: London in metric is cached, Paris is fetched, else 404."""

    def cached(self, query: Any) -> Any:
        if query.cache_key() == ("london", "GB", "metric", "en"):
            return Cached(b'{"name":"London"}', CacheStatus.HIT, age=3.2, ttl=100.7)
        return None

    async def current(self, query: Any) -> Any:
        if query.location.city == "Paris":
            return Cached(b'{"name":"Paris"}', CacheStatus.MISS, age=0.0, ttl=600.0)
        raise LocationNotFound(f"no {query.location}")


async def call(
    path: str, query: bytes = b"", method: str = "GET", *, layer: CityWeatherFastPath | None = None
) -> tuple[Recorder, list[Any]]:
    downstream, sent = Recorder(), []
    layer = layer or CityWeatherFastPath(downstream)
    layer.app = downstream
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "state": {"service": Service()},
    }

    async def send(message: Any) -> None:
        sent.append(message)

    await layer(scope, None, send)
    return downstream, sent


async def test_a_fresh_hit_never_reaches_fastapi() -> None:
    """A cached query is answered with its stored body and freshness; downstream is untouched."""
    downstream, sent = await call("/london/uk/", b"units=metric")
    assert downstream.paths == []
    start, body = sent
    headers = dict(start["headers"])
    assert start["status"] == 200
    assert headers[b"x-cache"] == b"hit"
    assert headers[b"age"] == b"3"
    assert headers[b"cache-control"] == b"max-age=100"
    assert body["body"] == b'{"name":"London"}'


async def test_a_miss_is_fetched_by_the_layer() -> None:
    """An uncached well-formed query is fetched through the service, still without FastAPI."""
    downstream, sent = await call("/Paris/fr")
    assert downstream.paths == []
    assert sent[0]["status"] == 200
    assert dict(sent[0]["headers"])[b"x-cache"] == b"miss"
    assert sent[1]["body"] == b'{"name":"Paris"}'


async def test_domain_errors_are_problems_from_the_layer() -> None:
    """A domain error raised for a well-formed query is rendered as its problem here."""
    downstream, sent = await call("/atlantis/gr/")
    assert downstream.paths == []
    assert sent[0]["status"] == 404
    assert dict(sent[0]["headers"])[b"content-type"] == b"application/problem+json"
    assert b'"instance":"/atlantis/gr/"' in sent[1]["body"]


@pytest.mark.parametrize(
    ("path", "query", "method"),
    [
        ("/london/uk/", b"units=metric", "HEAD"),
        ("/london/uk/", b"units=kelvin", "GET"),
        ("/london/uk/", b"units", "GET"),
        ("/lond0n/uk/", b"units=metric", "GET"),
        ("/london/xx/", b"units=metric", "GET"),
        ("/london/gbr/", b"", "GET"),
        ("/london/uk/", b"lang=english", "GET"),
        ("//uk/", b"", "GET"),
        ("/v1/weather", b"q=London,GB", "GET"),
        ("/a/b/c/", b"", "GET"),
        ("/healthz", b"", "GET"),
    ],
)
async def test_everything_else_goes_on_to_fastapi(path: str, query: bytes, method: str) -> None:
    """Other methods, bad parameters (the route renders the problem) and other paths go on."""
    downstream, _ = await call(path, query, method)
    assert downstream.paths == [path]


async def test_other_parameters_are_ignored_as_the_route_ignores_them() -> None:
    """Parameters the route does not know change nothing: the layer still answers the hit."""
    downstream, sent = await call("/london/uk/", b"units=imperial&units=metric&appid=x&x")
    assert downstream.paths == []
    assert dict(sent[0]["headers"])[b"x-cache"] == b"hit"


async def test_rejected_requests_leave_nothing_behind() -> None:
    """Refused paths, however many and long, are not remembered; valid ones are, once."""
    layer = CityWeatherFastPath(Recorder())
    for number in range(100):
        await call(f"/{'x' * 8000}{number}/gb/", layer=layer)
        await call("/london/uk/", b"units=kelvin&n=%d" % number, layer=layer)
    assert layer.remembered == 0
    for _ in range(3):
        await call("/london/uk/", b"units=metric", layer=layer)
    assert layer.remembered == 1


async def test_the_memo_is_bounded_in_entries_and_key_length() -> None:
    """More valid locations than MEMO_ENTRIES keep MEMO_ENTRIES; long valid URLs none."""
    layer = CityWeatherFastPath(Recorder())
    await call("/london/uk/", b"x=" + b"y" * MEMO_KEY_CHARS, layer=layer)  # valid, but long
    assert layer.remembered == 0
    names = ("".join(letters) for letters in itertools.product("abcdefgh", repeat=5))
    for name in itertools.islice(names, MEMO_ENTRIES + 100):
        downstream, sent = await call(f"/{name}/fr/", layer=layer)
    assert layer.remembered == MEMO_ENTRIES
    assert downstream.paths == []
    assert sent[0]["status"] == 404


async def test_hits_look_the_same_either_way() -> None:
    """A hit from the fast layer equals the route's answer in status, body and headers."""
    async with fast_and_route(make_settings(provider="sample")) as (client, route):
        miss = await client.get("/paris/fr/")
        hit = await client.get("/Paris/FR")
        via_route = await route.get("/paris/fr", params={"extra": "1"})
    assert miss.headers["x-cache"] == "miss"
    assert hit.headers["x-cache"] == via_route.headers["x-cache"] == "hit"
    assert hit.content == via_route.content == miss.content
    assert hit.headers["content-type"] == via_route.headers["content-type"]
