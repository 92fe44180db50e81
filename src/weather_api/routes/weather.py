"""The old app's endpoints: `/` and `/{city}/{country}/`, with OpenWeatherMap's JSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from fastapi.responses import PlainTextResponse

from weather_api.locations import (
    CITY_MAX_LENGTH,
    Units,
    WeatherQuery,
    parse_lang,
    parse_location,
)
from weather_api.routes.common import (
    LangQuery,
    UnitsQuery,
    WeatherResponse,
    problem_responses,
)
from weather_api.routes.deps import ServiceDep
from weather_api.schemas import CurrentWeather

router = APIRouter(tags=["weather"])

CityPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=CITY_MAX_LENGTH,
        description="City name: letters of any script, spaces, -, ' and .",
        examples=["London"],
    ),
]
CountryPath = Annotated[
    str,
    Path(
        min_length=2,
        max_length=2,
        description="ISO 3166-1 alpha-2 country code, any case; uk is taken as GB",
        examples=["GB"],
    ),
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
)
async def current_weather(
    city: CityPath,
    country: CountryPath,
    service: ServiceDep,
    units: UnitsQuery = Units.STANDARD,
    lang: LangQuery = "en",
) -> Response:
    """OpenWeatherMap-shaped current weather, from cache when fresh.

    `Cache-Control`, `Age` and `X-Cache` (hit, miss or stale) say how fresh it is.
    """
    query = WeatherQuery(parse_location(city, country), units=units, lang=parse_lang(lang))
    return WeatherResponse(await service.current(query))


# `/london/uk` (no slash) answers too, rather than redirecting: old clients did not follow.
router.add_api_route(
    "/{city}/{country}",
    current_weather,
    methods=["GET"],
    include_in_schema=False,
)
