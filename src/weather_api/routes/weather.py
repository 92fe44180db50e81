"""The old app's endpoints: `/` and `/{city}/{country}/`, with OpenWeatherMap's JSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from weather_api.errors import InvalidQuery
from weather_api.locations import (
    CITY_MAX_LENGTH,
    CITY_PATTERN,
    COUNTRY_PATTERN,
    LANG_PATTERN,
    Units,
    parse_city_request,
)
from weather_api.routes.deps import ServiceDep
from weather_api.routes.responses import problem_responses, weather_or_problem
from weather_api.schemas import CurrentWeather

router = APIRouter(tags=["weather"])

# The parameters as `parse_city_request` reads them, which FastAPI does not: it would be a second
# reading of one contract. Every check that function makes is here, so that a request built from
# this description is answered, and one outside it refused.
CITY_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "city",
        "in": "path",
        "required": True,
        "description": (
            "City name: letters and marks of any script, spaces, -, ' and ., with at least one "
            f"letter; 1-{CITY_MAX_LENGTH} characters as sent. Leading, trailing and repeated "
            "spaces are folded."
        ),
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": CITY_MAX_LENGTH,
            "pattern": CITY_PATTERN,
        },
        "example": "London",
    },
    {
        "name": "country",
        "in": "path",
        "required": True,
        "description": "ISO 3166-1 alpha-2 country code, any case; uk is taken as GB",
        "schema": {"type": "string", "minLength": 2, "maxLength": 2, "pattern": COUNTRY_PATTERN},
        "example": "GB",
    },
    {
        "name": "units",
        "in": "query",
        "required": False,
        "description": "standard: Kelvin, m/s; metric: Celsius, m/s; imperial: Fahrenheit, mph",
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
        "description": "Language of descriptions and names, e.g. en, de, pt_br (or pt-BR)",
        "schema": {"type": "string", "pattern": LANG_PATTERN, "default": "en"},
    },
]


@router.get("/", response_class=PlainTextResponse, summary="Says the app works")
async def root() -> str:
    """The old app's greeting."""
    return "App Works!"


@router.get(
    "/{city}/{country}/",
    response_model=CurrentWeather,
    summary="Current weather for a city",
    responses=problem_responses(404, 422, 502, 503, 504),
    openapi_extra={"parameters": CITY_PARAMETERS},
)
async def current_weather(request: Request, service: ServiceDep) -> Response:
    """OpenWeatherMap-shaped current weather, from cache when fresh.

    `Cache-Control`, `Age` and `X-Cache` (hit, miss or stale) say how fresh it is. Valid
    requests are answered before this handler by the hot path, `CityWeatherFastPath`
    (routes/city_fast_path.py, registered in app.py's `outer_layers`); this handler answers
    what it passes on, read the same way.
    """
    # What the fast path (routes/city_fast_path.py) passed on: read and answered the same way.
    path: str = request.scope["path"]
    parsed = parse_city_request(path, request.scope["query_string"])
    if parsed is None:  # pragma: no cover - Starlette routes only /{city}/{country}/ paths here
        parsed = InvalidQuery("the path must be /{city}/{country}/")
    return await weather_or_problem(service, parsed, instance=path)


# `/london/uk` (no slash) answers too, rather than redirecting: old clients did not follow.
router.add_api_route(
    "/{city}/{country}",
    current_weather,
    methods=["GET"],
    include_in_schema=False,
)
