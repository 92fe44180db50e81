"""`GET /data/2.5/weather`: OpenWeatherMap's own API, for the clients written against it.

The parameters are read as OpenWeatherMap reads them (`q`, `lat`+`lon`, `id`, `units`, `lang`,
`mode`, `appid` or `APPID`), the answer is the same cached body as `/{city}/{country}/`'s, and
every error is in OpenWeatherMap's shape (`{"cod": "404", "message": "city not found"}`), so
that a client's own error handling works. problem+json stays on our own routes.

The appid is read only to check it against `--compat-appids`: it is never logged (the access
log names the route template, not the URL), never echoed, never part of a cache key and never
sent upstream, where the service uses its own configuration.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import math
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from weather_api.cache import Cached
from weather_api.errors import (
    InvalidQuery,
    LocationNotFound,
    UpstreamRateLimited,
    UpstreamTimeout,
    WeatherApiError,
)
from weather_api.locations import (
    CITY_MAX_LENGTH,
    CITY_PATTERN,
    COUNTRY_PATTERN,
    LANG_PATTERN,
    CityId,
    Coordinates,
    Location,
    Units,
    WeatherQuery,
    parse_city,
    parse_country,
    parse_lang,
    parse_units,
)
from weather_api.routes.city_fast_path import MEMO_ENTRIES, MEMO_KEY_CHARS
from weather_api.routes.deps import ServiceDep, lifespan_state
from weather_api.routes.responses import NO_STORE, WeatherResponse
from weather_api.schemas import FORECAST_STEPS, CurrentWeather, Forecast

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from weather_api.service import WeatherService

TAG = "openweathermap"
WEATHER_PATH = "/data/2.5/weather"
FORECAST_PATH = "/data/2.5/forecast"
OWM_HOST = "api.openweathermap.org"
"""The host whose requests these routes answer when the service is a proxy or a DNS name."""

Q_PATTERN = (
    f"^(?=[^,]{{1,{CITY_MAX_LENGTH}}}(?:,|$))"  # the city: 1-85 characters
    f"{CITY_PATTERN[1:-1]}"
    f"(?:(?:,[^,]*)?, *{COUNTRY_PATTERN[1:-1]} *)?$"  # optionally a state, then the country
)
"""`city`, `city,country` or `city,state,country`, each part as `/{city}/{country}/` reads it."""
MAX_CITY_ID = 999_999_999_999

INVALID_APPID = "Invalid API key. Please see https://openweathermap.org/faq#error401 for more info."


class OwmRefusal(Exception):
    """An answer in OpenWeatherMap's error shape: `cod` and `message`."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra_headers = headers or {}

    def response(self) -> JSONResponse:
        """As OpenWeatherMap sends it: `cod` a string on 400 and 404, a number otherwise."""
        cod: int | str = str(self.status) if self.status in (400, 404) else self.status
        return JSONResponse(
            {"cod": cod, "message": self.message},
            status_code=self.status,
            headers={**self.extra_headers, **NO_STORE},
        )


def _coordinate(params: dict[str, str], name: str, limit: float) -> float:
    try:
        value = float(params[name])
    except ValueError:
        raise OwmRefusal(400, f"wrong {'latitude' if name == 'lat' else 'longitude'}") from None
    if not math.isfinite(value) or not -limit <= value <= limit:
        raise OwmRefusal(400, f"wrong {'latitude' if name == 'lat' else 'longitude'}")
    return round(value, 4)


def _q(raw: str) -> Location:
    """`Q_PATTERN`: a city, then optionally a state and a country code."""
    if not raw:
        raise OwmRefusal(400, "Nothing to geocode")
    parts = raw.split(",")
    if len(parts) > 3:
        raise OwmRefusal(400, "q must be city, city,country or city,state,country")
    # A state (OpenWeatherMap takes it for the US only) narrows nothing our upstreams read.
    country = parse_country(parts[-1].strip(" ")) if len(parts) > 1 else ""
    return Location(city=parse_city(parts[0]), country=country)


def _city_id(raw: str) -> CityId:
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_CITY_ID:
        raise OwmRefusal(400, f"{raw[:40]!r} is not a city ID")
    return CityId(int(raw))


def _location(params: dict[str, str]) -> Location | Coordinates | CityId:
    """Where the client asks about: by `q`, else `id`, else `lat`+`lon`, else `zip`.

    Every location parameter sent is checked, used or not: a malformed one is refused even
    when another one names the place.
    """
    named = _q(params["q"]) if "q" in params else None
    city_id = _city_id(params["id"]) if "id" in params else None
    lat = _coordinate(params, "lat", 90) if "lat" in params else None
    lon = _coordinate(params, "lon", 180) if "lon" in params else None
    if named is not None:
        return named
    if city_id is not None:
        return city_id
    if lat is not None and lon is not None:
        return Coordinates(lat, lon)
    if "zip" in params:
        raise OwmRefusal(404, "zip code lookups are not served here; use q=city,country")
    raise OwmRefusal(400, "Nothing to geocode")


def parse_owm_request(query_string: bytes) -> tuple[WeatherQuery, str | None]:
    """The query a `/data/2.5/*` request asks for, and its appid (None if it sent none).

    Raises `OwmRefusal` for what OpenWeatherMap would refuse. The last of a repeated
    parameter counts, as Starlette reads them.
    """
    params = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    appid = params.get("appid", params.get("APPID"))
    mode = params.get("mode", "json")
    if mode != "json":
        raise OwmRefusal(400, f"mode={mode[:20]} is not served here: only json")
    try:
        location = _location(params)
        units = parse_units(params["units"]) if "units" in params else Units.STANDARD
        lang = parse_lang(params["lang"]) if "lang" in params else "en"
    except InvalidQuery as problem:
        raise OwmRefusal(400, problem.detail) from None
    return WeatherQuery(location, units=units, lang=lang), appid


def parse_count(query_string: bytes) -> int | None:
    """The forecast's `cnt`: how many steps, 1-40; None for all of them."""
    raw = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)).get("cnt")
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= FORECAST_STEPS:
        raise OwmRefusal(400, f"cnt must be a whole number from 1 to {FORECAST_STEPS}")
    return int(raw)


def first_steps(cached: Cached[bytes], count: int | None) -> Cached[bytes]:
    """The cached forecast with only its first `count` steps (all when None)."""
    if count is None:
        return cached
    forecast = json.loads(cached.value)
    forecast["list"] = forecast["list"][:count]
    forecast["cnt"] = len(forecast["list"])
    body = json.dumps(forecast, separators=(",", ":"), ensure_ascii=False).encode()
    return dataclasses.replace(cached, value=body)


def check_appid(appid: str | None, accepted: frozenset[str] | None) -> None:
    """Refuse an appid that `--compat-appids` does not list (any, or none, without the list)."""
    if accepted is None:
        return
    given = (appid or "").encode()
    # Compared with each, in constant time, so that timing tells nothing about the list.
    matched = False
    for key in accepted:
        matched |= hmac.compare_digest(given, key.encode())
    if not matched:
        raise OwmRefusal(401, INVALID_APPID)


def owm_refusal(error: WeatherApiError, query: WeatherQuery) -> OwmRefusal:
    """A domain error as OpenWeatherMap would say it."""
    if isinstance(error, LocationNotFound):
        if isinstance(query.location, Location):
            return OwmRefusal(404, "city not found")
        return OwmRefusal(404, error.detail)
    if isinstance(error, InvalidQuery):
        return OwmRefusal(400, error.detail)
    if isinstance(error, UpstreamRateLimited):
        # Our upstream limits us: the client sees what OpenWeatherMap's own limit looks like.
        return OwmRefusal(429, error.detail, headers={"Retry-After": str(error.retry_after)})
    if isinstance(error, UpstreamTimeout):
        return OwmRefusal(504, error.detail)
    return OwmRefusal(error.status, error.detail)


_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "q",
        "in": "query",
        "required": False,
        "description": (
            "city, city,country or city,state,country: the city as in /{city}/{country}/, "
            "the country an ISO 3166-1 alpha-2 code in any case (uk is GB); one of q, id or "
            "lat+lon is needed"
        ),
        "schema": {"type": "string", "pattern": Q_PATTERN},
        "example": "London,GB",
    },
    {
        "name": "lat",
        "in": "query",
        "required": False,
        "description": "Latitude, with lon",
        "schema": {"type": "number", "minimum": -90, "maximum": 90},
    },
    {
        "name": "lon",
        "in": "query",
        "required": False,
        "description": "Longitude, with lat",
        "schema": {"type": "number", "minimum": -180, "maximum": 180},
    },
    {
        "name": "id",
        "in": "query",
        "required": False,
        "description": "OpenWeatherMap city id (with --provider openweathermap only)",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_CITY_ID},
    },
    {
        "name": "units",
        "in": "query",
        "required": False,
        "description": "standard (Kelvin, as OpenWeatherMap), metric or imperial",
        "schema": {
            "type": "string",
            "enum": [units.value for units in Units],
            "default": Units.STANDARD.value,
        },
    },
    {
        "name": "lang",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "pattern": LANG_PATTERN, "default": "en"},
    },
    {
        "name": "mode",
        "in": "query",
        "required": False,
        "description": "json only; xml and html are refused with 400",
        "schema": {"type": "string", "enum": ["json"], "default": "json"},
    },
    {
        "name": "appid",
        "in": "query",
        "required": False,
        "description": "Checked against --compat-appids when set; never sent upstream or logged",
        "schema": {"type": "string"},
    },
]


_COUNT: dict[str, Any] = {
    "name": "cnt",
    "in": "query",
    "required": False,
    "description": f"How many 3-hour steps, from the next one (all {FORECAST_STEPS} by default)",
    "schema": {"type": "integer", "minimum": 1, "maximum": FORECAST_STEPS},
}


def _owm_error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    schema = {
        "type": "object",
        "properties": {
            "cod": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "message": {"type": "string"},
        },
        "required": ["cod", "message"],
    }
    return {
        status: {
            "description": "An error in OpenWeatherMap's shape",
            "content": {"application/json": {"schema": schema}},
        }
        for status in statuses
    }


def build_router(*, accepted_appids: frozenset[str] | None) -> APIRouter:
    """The OpenWeatherMap-compatible routes; `accepted_appids` None: any appid, or none."""
    router = APIRouter(tags=[TAG])

    @router.get(
        WEATHER_PATH,
        response_model=CurrentWeather,
        summary="Current weather, as OpenWeatherMap's API answers it",
        responses=_owm_error_responses(400, 401, 404, 429, 502, 504),
        openapi_extra={"parameters": _PARAMETERS},
    )
    async def owm_weather(request: Request, service: ServiceDep) -> Response:
        """OpenWeatherMap's current weather API, from the same cache as `/{city}/{country}/`.

        Kelvin unless `units` says otherwise, as OpenWeatherMap; errors in its shape.
        """
        try:
            query, appid = parse_owm_request(request.scope["query_string"])
            check_appid(appid, accepted_appids)
        except OwmRefusal as refusal:
            return refusal.response()
        try:
            return WeatherResponse(service.cached(query) or await service.current(query))
        except WeatherApiError as error:
            return owm_refusal(error, query).response()

    @router.get(
        FORECAST_PATH,
        response_model=Forecast,
        summary="5-day forecast in 3-hour steps, as OpenWeatherMap's API answers it",
        responses=_owm_error_responses(400, 401, 404, 429, 502, 504),
        openapi_extra={"parameters": [*_PARAMETERS, _COUNT]},
    )
    async def owm_forecast(request: Request, service: ServiceDep) -> Response:
        """OpenWeatherMap's 5-day / 3-hour forecast: 40 steps, or `cnt` of them.

        Cached per location with its own TTL (`--forecast-cache-ttl`); Kelvin unless `units`
        says otherwise; errors in OpenWeatherMap's shape.
        """
        query_string: bytes = request.scope["query_string"]
        try:
            query, appid = parse_owm_request(query_string)
            count = parse_count(query_string)
            check_appid(appid, accepted_appids)
        except OwmRefusal as refusal:
            return refusal.response()
        try:
            return WeatherResponse(first_steps(await service.forecast(query), count))
        except WeatherApiError as error:
            return owm_refusal(error, query).response()

    return router


class OwmWeatherFastPath:
    """ASGI middleware: a fresh cache hit on `GET /data/2.5/weather`, before FastAPI's routing.

    The same reading (`parse_owm_request`, `check_appid`) and the same response as the route,
    so that a hit here costs what one on `/{city}/{country}/` costs. Anything else (a miss,
    a refusal) goes on to the route, which answers it.

    Like the city layer, it remembers the parsed queries of valid requests (at most
    `MEMO_ENTRIES`, for query strings up to `MEMO_KEY_CHARS`), keyed by the query string
    with its appid taken out: no appid is kept. Only plain query strings (no `%` or `+`, so no
    name can hide an appid) are remembered; others are parsed each time.
    """

    def __init__(self, app: ASGIApp, *, accepted_appids: frozenset[str] | None) -> None:
        self.app = app
        self._accepted = accepted_appids
        self._memo: dict[bytes, WeatherQuery] = {}

    @property
    def remembered(self) -> int:
        """How many parsed queries the layer holds (at most MEMO_ENTRIES)."""
        return len(self._memo)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == WEATHER_PATH:
            state = lifespan_state(scope)
            cached = self._hit(state["service"], scope) if state is not None else None
            if cached is not None:
                scope["weather_api.route"] = WEATHER_PATH
                await WeatherResponse(cached)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _hit(self, service: WeatherService, scope: Scope) -> Cached[bytes] | None:
        query_string: bytes = scope["query_string"]
        try:
            if b"%" in query_string or b"+" in query_string:
                query, appid = parse_owm_request(query_string)
            else:
                rest, appid = _without_appid(query_string)
                query = self._memo.get(rest) or self._parse(rest)
            check_appid(appid, self._accepted)
        except OwmRefusal:
            return None
        return service.cached(query)

    def _parse(self, rest: bytes) -> WeatherQuery:
        query, _ = parse_owm_request(rest)
        if len(rest) <= MEMO_KEY_CHARS:
            memo = self._memo
            if len(memo) >= MEMO_ENTRIES:
                del memo[next(iter(memo))]
            memo[rest] = query
        return query


def _without_appid(query_string: bytes) -> tuple[bytes, str | None]:
    """A plain query string without its appid and APPID parameters, and the appid as
    `parse_owm_request` reads it (the last `appid`, else the last `APPID`)."""
    if b"ppid" not in query_string and b"PPID" not in query_string:
        return query_string, None
    kept: list[bytes] = []
    found: dict[bytes, bytes] = {}
    for item in query_string.split(b"&"):
        name, _, value = item.partition(b"=")
        if name in (b"appid", b"APPID"):
            found[name] = value
        else:
            kept.append(item)
    appid = found.get(b"appid", found.get(b"APPID"))
    return b"&".join(kept), None if appid is None else appid.decode("latin-1")
