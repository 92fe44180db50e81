"""OpenWeatherMap's current-weather API, which already speaks our response shape."""

from __future__ import annotations

from pydantic import SecretStr

from weather_api.errors import LocationNotFound
from weather_api.locations import WeatherQuery
from weather_api.providers.upstream import AnswerMismatch, UpstreamClient
from weather_api.schemas import CurrentWeather


class OpenWeatherMapProvider:
    """`GET /data/2.5/weather?q=City,CC&appid=...` (https://openweathermap.org/current)."""

    name = "openweathermap"

    def __init__(self, upstream: UpstreamClient, *, base_url: str, api_key: SecretStr) -> None:
        self._upstream = upstream
        self._url = base_url.rstrip("/") + "/data/2.5/weather"
        self._api_key = api_key

    async def current(self, query: WeatherQuery) -> CurrentWeather:
        """Ask OpenWeatherMap in the requested units and language."""
        weather = await self._upstream.get(
            self._url,
            params={
                "q": str(query.location),
                "units": query.units.value,
                "lang": query.lang,
                "appid": self._api_key.get_secret_value(),
            },
            decode=lambda body: _for_country(body, query.location.country),
            not_found_status=404,
        )
        if weather is None:
            raise LocationNotFound(f"OpenWeatherMap knows no city {query.location}.")
        return weather


def _for_country(body: bytes, country: str) -> CurrentWeather:
    """The answer, parsed and checked in one step straight from bytes; refused when it names
    another country than the one asked for (another request's answer)."""
    weather = CurrentWeather.model_validate_json(body)
    answered = weather.sys.country if weather.sys is not None else None
    if answered and answered.upper() != country:
        raise AnswerMismatch(f"asked for a city in {country}, answered about {answered}")
    return weather
