"""Fresh cache hits of `GET /{city}/{country}/`, answered before FastAPI's routing.

A hit is a dictionary lookup; FastAPI's routing, dependency solving and parameter validation
cost several times that (see README "Benchmark"). So this pure ASGI layer answers a hit with the
stored body and sends everything else (misses, stale entries, bad input, other paths) on to
FastAPI, which stays the one owner of validation, errors and the OpenAPI description. Input is
checked with the same functions the route uses, so a request this layer answers is one the route
would have answered the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from weather_api.errors import InvalidQuery
from weather_api.locations import Units, WeatherQuery, parse_lang, parse_location
from weather_api.routes.common import cache_headers

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from weather_api.service import WeatherService

ROUTE_TEMPLATE = "/{city}/{country}/"
_JSON = (b"content-type", b"application/json")


class FastCacheHits:
    """ASGI middleware: serve fresh hits of the city route from the cache, pass the rest on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            service: WeatherService | None = scope.get("state", {}).get("service")
            query = _query(scope) if service is not None else None
            hit = service.cached(query) if service is not None and query is not None else None
            if hit is not None:
                scope["weather_api.route"] = ROUTE_TEMPLATE
                headers = [(k.encode(), v.encode()) for k, v in cache_headers(hit).items()]
                headers.append(_JSON)
                headers.append((b"content-length", str(len(hit.value)).encode()))
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": hit.value})
                return
        await self.app(scope, receive, send)


def _query(scope: Scope) -> WeatherQuery | None:
    """The query the city route would build, or None to let the route decide."""
    parts = scope["path"].split("/")
    # "/city/country/" -> ["", city, country, ""]; without the slash, the last is missing
    if len(parts) == 4 and parts[3] == "":
        parts.pop()
    if len(parts) != 3 or parts[0] != "" or not parts[1] or len(parts[2]) != 2:
        return None
    units, lang = Units.STANDARD, "en"
    raw_query: bytes = scope["query_string"]
    try:
        if raw_query:
            for name, value in parse_qsl(raw_query.decode("latin-1"), strict_parsing=True):
                if name == "units":
                    units = Units(value)
                elif name == "lang":
                    lang = parse_lang(value)
                else:
                    return None
        return WeatherQuery(parse_location(parts[1], parts[2]), units=units, lang=lang)
    except (InvalidQuery, ValueError):
        return None
