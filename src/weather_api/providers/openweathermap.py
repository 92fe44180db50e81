"""OpenWeatherMap's current-weather API, which already speaks our response shape."""

from __future__ import annotations

from pydantic import SecretStr

from weather_api.errors import LocationNotFound
from weather_api.locations import CityId, Coordinates, Location, WeatherQuery
from weather_api.providers.upstream import UpstreamClient
from weather_api.schemas import CurrentWeather, Forecast


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
        weather = await self._upstream.get(
            self._url,
            params={
                **_where(query.location),
                "units": query.units.value,
                "lang": query.lang,
                "appid": self._api_key.get_secret_value(),
            },
            # Parsed and checked in one step, straight from bytes: no dict in between.
            decode=CurrentWeather.model_validate_json,
            not_found_status=404,
        )
        if weather is None:
            raise LocationNotFound(f"OpenWeatherMap knows no city {query.location}.")
        return weather

    async def forecast(self, query: WeatherQuery) -> Forecast:
        """OpenWeatherMap's own 5-day / 3-hour forecast, all 40 steps."""
        forecast = await self._upstream.get(
            self._forecast_url,
            params={
                **_where(query.location),
                "units": query.units.value,
                "lang": query.lang,
                "appid": self._api_key.get_secret_value(),
            },
            decode=Forecast.model_validate_json,
            not_found_status=404,
        )
        if forecast is None:
            raise LocationNotFound(f"OpenWeatherMap knows no city {query.location}.")
        return forecast


def _where(location: Location | Coordinates | CityId) -> dict[str, str]:
    """OpenWeatherMap's own parameters for a place: `q`, `lat`+`lon` or `id`."""
    if isinstance(location, Coordinates):
        return {"lat": f"{location.lat:.4f}", "lon": f"{location.lon:.4f}"}
    if isinstance(location, CityId):
        return {"id": str(location.id)}
    return {"q": str(location)}
