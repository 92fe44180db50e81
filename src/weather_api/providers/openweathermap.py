"""OpenWeatherMap's current-weather API, which already speaks our response shape."""

from __future__ import annotations

from typing import TypeVar

from pydantic import SecretStr

from weather_api.errors import LocationNotFound
from weather_api.locations import CityId, Coordinates, Location, WeatherQuery
from weather_api.providers.upstream import AnswerMismatch, UpstreamClient
from weather_api.schemas import CurrentWeather, Forecast

Answer = TypeVar("Answer", CurrentWeather, Forecast)


class OpenWeatherMapProvider:
    """`GET /data/2.5/weather?q=City,CC&appid=...` (https://openweathermap.org/current)."""

    name = "openweathermap"

    def __init__(self, upstream: UpstreamClient, *, base_url: str, api_key: SecretStr) -> None:
        self._upstream = upstream
        self._url = base_url.rstrip("/") + "/data/2.5/weather"
        self._forecast_url = base_url.rstrip("/") + "/data/2.5/forecast"
        self._api_key = api_key

    async def current(self, query: WeatherQuery) -> CurrentWeather:
        """Ask OpenWeatherMap in the requested units and language."""
        return await self._ask(self._url, CurrentWeather, query)

    async def forecast(self, query: WeatherQuery) -> Forecast:
        """OpenWeatherMap's own 5-day / 3-hour forecast, all 40 steps."""
        return await self._ask(self._forecast_url, Forecast, query)

    async def _ask(self, url: str, model: type[Answer], query: WeatherQuery) -> Answer:
        answer = await self._upstream.get(
            url,
            params={
                **_where(query.location),
                "units": query.units.value,
                "lang": query.lang,
                "appid": self._api_key.get_secret_value(),
            },
            decode=lambda body: _answering(query.location, model, body),
            not_found_status=404,
        )
        if answer is None:
            raise LocationNotFound(f"OpenWeatherMap knows no city {query.location}.")
        return answer


def _where(location: Location | Coordinates | CityId) -> dict[str, str]:
    """OpenWeatherMap's own parameters for a place: `q`, `lat`+`lon` or `id`."""
    if isinstance(location, Coordinates):
        return {"lat": f"{location.lat:.4f}", "lon": f"{location.lon:.4f}"}
    if isinstance(location, CityId):
        return {"id": str(location.id)}
    return {"q": str(location)}


MAX_COORD_OFFSET_DEGREES = 0.5
"""How far the coordinates of an answer may lie from the point asked for."""


def _answering(
    location: Location | Coordinates | CityId,
    model: type[Answer],
    body: bytes,
) -> Answer:
    """The answer, parsed straight from bytes and refused when it is about another place than
    the one asked for (another request's answer): another country, id, or point."""
    answer = model.model_validate_json(body)
    if isinstance(answer, Forecast):
        country, coord, place_id = answer.city.country, answer.city.coord, answer.city.id
    else:
        country = answer.sys.country if answer.sys is not None else None
        coord, place_id = answer.coord, answer.id
    if isinstance(location, Coordinates):
        offsets = (abs(coord.lat - location.lat), abs(coord.lon - location.lon) % 360)
        if max(offsets[0], min(offsets[1], 360 - offsets[1])) > MAX_COORD_OFFSET_DEGREES:
            raise AnswerMismatch(f"asked for {location}, answered for {coord.lat},{coord.lon}")
    elif isinstance(location, CityId):
        if place_id is not None and place_id != location.id:
            raise AnswerMismatch(f"asked for city #{location.id}, answered about #{place_id}")
    elif location.country and country and country.upper() != location.country:
        raise AnswerMismatch(f"asked for a city in {location.country}, answered about {country}")
    return answer
