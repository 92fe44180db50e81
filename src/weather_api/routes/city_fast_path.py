"""`GET /{city}/{country}/` for well-formed requests, answered before FastAPI's routing.

This endpoint is the hot path. FastAPI's routing, dependency solving and parameter validation
cost more CPU than a cache hit and half a cache miss's budget (docs/benchmarks.md), so this pure
ASGI layer answers the requests it can read in full: a known city and country, and no query
parameters but `units` and `lang`. It checks them with the same functions as the FastAPI route,
asks the same service, and renders answers and problems with the same helpers. Anything else
(malformed input, other parameters, other paths) goes on to FastAPI, which stays the owner of
validation messages and of the OpenAPI description.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from weather_api.errors import InvalidQuery, WeatherApiError
from weather_api.locations import CITY_MAX_LENGTH, Units, WeatherQuery, parse_lang, parse_location
from weather_api.routes.common import LANG_RE, WeatherResponse, problem_response

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send

    from weather_api.service import WeatherService

ROUTE_TEMPLATE = "/{city}/{country}/"


class CityWeatherFastPath:
    """ASGI middleware: answer well-formed city requests from the service, pass the rest on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        service: WeatherService | None = None
        query: WeatherQuery | None = None
        if scope["type"] == "http" and scope["method"] == "GET":
            service = scope.get("state", {}).get("service")
            query = _query(scope["path"], scope["query_string"]) if service is not None else None
        if service is None or query is None:
            await self.app(scope, receive, send)
            return
        scope["weather_api.route"] = ROUTE_TEMPLATE
        response: Response
        try:
            hit = service.cached(query)  # no await on a fresh hit: the cheapest answer there is
            response = WeatherResponse(hit or await service.current(query))
        except WeatherApiError as error:
            response = problem_response(error, instance=scope["path"])
        await response(scope, receive, send)


@lru_cache(maxsize=4096)
def _query(path: str, raw_query: bytes) -> WeatherQuery | None:
    """The query the city route would build, or None to let the route decide.

    Remembered for the most recent paths: parsing and checking a name costs ~8 us, and
    popular cities come back again and again (the queries are immutable).
    """
    parts = path.split("/")
    # "/city/country/" -> ["", city, country, ""]; without the slash, the last is missing
    if len(parts) == 4 and parts[3] == "":
        parts.pop()
    # The same limits as the route's OpenAPI description: what FastAPI would refuse, it refuses.
    if (
        len(parts) != 3
        or parts[0] != ""
        or not parts[1]
        or len(parts[1]) > CITY_MAX_LENGTH
        or len(parts[2]) != 2
    ):
        return None
    units, lang = Units.STANDARD, "en"
    try:
        if raw_query:
            query = raw_query.decode("latin-1")
            for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=True):
                if name == "units":
                    units = Units(value)
                elif name == "lang":
                    if not LANG_RE.fullmatch(value):
                        return None
                    lang = parse_lang(value)
                else:
                    return None
        return WeatherQuery(parse_location(parts[1], parts[2]), units=units, lang=lang)
    except (InvalidQuery, ValueError):
        return None
