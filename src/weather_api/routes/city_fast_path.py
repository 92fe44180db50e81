"""`GET /{city}/{country}/` for well-formed requests, answered before FastAPI's routing.

This endpoint is the hot path. FastAPI's routing, dependency solving and parameter validation
cost more CPU than a cache hit (measured with `make bench`'s cases: without this layer a hit is
~18% of a raw ASGI hello, with it ~50-75%), so this pure ASGI layer answers the requests that
`parse_city_request` reads as a query. It is the same function the FastAPI route reads them
with, the same service, and the same response builder. Anything else (a problem, another
method, another path) goes on to FastAPI, which answers it through that same function, so
nothing is read twice two ways.

`create_app` registers it by name (app.py, `outer_layers`); the paths of the app's other routes
are taken from the app itself when the stack is built, so no route added later is shadowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Match

from weather_api.locations import WeatherQuery, parse_city_request
from weather_api.routes.deps import lifespan_state
from weather_api.routes.responses import weather_or_problem

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from weather_api.service import WeatherService

ROUTE_TEMPLATE = "/{city}/{country}/"
CITY_ROUTES = frozenset({ROUTE_TEMPLATE, ROUTE_TEMPLATE.rstrip("/")})
"""The city route and its twin without the slash: the ones this layer answers for."""

MEMO_ENTRIES = 4096
"""Most requests whose parsed query is remembered."""
MEMO_KEY_CHARS = 256
"""Longest path plus query string remembered; longer ones are parsed each time. With
MEMO_ENTRIES, this bounds the memo at about 2 MiB however the clients choose their URLs."""


def leaf_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """The routes a request can end at, with included routers opened up.

    FastAPI (0.16x) keeps each `include_router` as one route holding the router as
    `original_router`, which matches every path of its routes; tests/routes/test_outer_layers.py
    fails, naming it, if that changes.
    """
    for route in routes:
        router = getattr(route, "original_router", None)
        if router is not None:
            yield from leaf_routes(router.routes)
        else:
            yield route


class CityWeatherFastPath:
    """ASGI middleware: answer well-formed city requests from the service, pass the rest on."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        # Every other route of the app: a path one of them matches is FastAPI's to route
        # (`/problems/CN` is a problem page, not the weather in a city called Problems).
        self._others = tuple(
            route
            for route in leaf_routes(routes)
            if getattr(route, "path", None) not in CITY_ROUTES
        )
        # Parsing and checking a name has a cost (docs/benchmarks.md), and popular cities come
        # back again and again. Only valid queries are kept (a rejected request leaves nothing
        # behind), only for short URLs, and at most MEMO_ENTRIES of them, the oldest first out.
        self._memo: dict[tuple[str, bytes], WeatherQuery] = {}

    @property
    def remembered(self) -> int:
        """How many parsed queries the layer holds (at most MEMO_ENTRIES)."""
        return len(self._memo)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        service: WeatherService | None = None
        query: WeatherQuery | None = None
        if scope["type"] == "http" and scope["method"] == "GET":
            state = lifespan_state(scope)
            service = state["service"] if state is not None else None
            query = self._query(scope) if service is not None else None
        if service is None or query is None:
            await self.app(scope, receive, send)
            return
        scope["weather_api.route"] = ROUTE_TEMPLATE
        response = await weather_or_problem(service, query, instance=scope["path"])
        await response(scope, receive, send)

    def _query(self, scope: Scope) -> WeatherQuery | None:
        """The request's query if it is a valid city request, else None (FastAPI's to answer)."""
        path: str = scope["path"]
        query_string: bytes = scope["query_string"]
        key = (path, query_string)
        query = self._memo.get(key)
        if query is not None:
            return query
        parsed = parse_city_request(path, query_string)
        if not isinstance(parsed, WeatherQuery):
            return None
        # Only for paths that read as a city: the routes are fixed, so a remembered query
        # was checked once against them.
        if any(route.matches(scope)[0] is not Match.NONE for route in self._others):
            return None
        if len(path) + len(query_string) <= MEMO_KEY_CHARS:
            memo = self._memo
            if len(memo) >= MEMO_ENTRIES:
                del memo[next(iter(memo))]
            memo[key] = parsed
        return parsed
