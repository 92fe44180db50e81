"""Open-Meteo (keyless): geocode the city, then read the current weather at its coordinates."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from weather_api.errors import LocationNotFound, UpstreamBadResponse
from weather_api.locations import Units, WeatherQuery
from weather_api.providers.upstream import UpstreamClient
from weather_api.providers.wmo import owm_condition
from weather_api.schemas import CurrentWeather

KELVIN_OFFSET = 273.15

_CURRENT = (
    "temperature_2m,relative_humidity_2m,apparent_temperature,weather_code,cloud_cover,"
    "pressure_msl,wind_speed_10m,wind_direction_10m,wind_gusts_10m,is_day"
)
_DAILY = "sunrise,sunset,temperature_2m_max,temperature_2m_min"
# Open-Meteo has no Kelvin: ask for Celsius and shift. Wind as OpenWeatherMap gives it.
_UNIT_PARAMS = {
    Units.STANDARD: {"temperature_unit": "celsius", "wind_speed_unit": "ms"},
    Units.METRIC: {"temperature_unit": "celsius", "wind_speed_unit": "ms"},
    Units.IMPERIAL: {"temperature_unit": "fahrenheit", "wind_speed_unit": "mph"},
}


class OpenMeteoProvider:
    """https://open-meteo.com/en/docs and https://open-meteo.com/en/docs/geocoding-api."""

    name = "openmeteo"

    def __init__(self, upstream: UpstreamClient, *, geocoding_url: str, forecast_url: str) -> None:
        self._upstream = upstream
        self._search_url = geocoding_url.rstrip("/") + "/v1/search"
        self._forecast_url = forecast_url.rstrip("/") + "/v1/forecast"

    async def current(self, query: WeatherQuery) -> CurrentWeather:
        """Two upstream calls within one deadline: the place, then its weather, in OWM's shape."""
        with self._upstream.one_deadline():
            place = await self._geocode(query)
            forecast = await self._upstream.get(
                self._forecast_url,
                params={
                    "latitude": str(place["latitude"]),
                    "longitude": str(place["longitude"]),
                    "current": _CURRENT,
                    "daily": _DAILY,
                    "timezone": "auto",
                    "timeformat": "unixtime",
                    "forecast_days": "1",
                    **_UNIT_PARAMS[query.units],
                },
                decode=json.loads,
            )
        try:
            if not isinstance(forecast, dict):
                raise TypeError("forecast is not an object")
            return _to_owm(place, forecast, query)
        except (KeyError, IndexError, TypeError, ValueError, ValidationError):
            raise UpstreamBadResponse(
                "The openmeteo upstream sent a forecast we cannot read.", provider=self.name
            ) from None

    async def _geocode(self, query: WeatherQuery) -> dict[str, Any]:
        body = await self._upstream.get(
            self._search_url,
            params={
                "name": query.location.city,
                "countryCode": query.location.country,
                "count": "1",
                "language": query.lang.split("_")[0],
                "format": "json",
            },
            decode=json.loads,
        )
        # Open-Meteo leaves `results` out entirely when nothing matches.
        results = body.get("results") if isinstance(body, dict) else None
        if not results:
            raise LocationNotFound(f"Open-Meteo knows no city {query.location}.")
        place = results[0]
        if not isinstance(place, dict) or not {"latitude", "longitude"} <= place.keys():
            raise UpstreamBadResponse(
                "The openmeteo upstream sent a geocoding result without coordinates.",
                provider=self.name,
            )
        return place


def _to_owm(place: dict[str, Any], forecast: dict[str, Any], query: WeatherQuery) -> CurrentWeather:
    current = forecast["current"]
    daily = forecast["daily"]
    shift = KELVIN_OFFSET if query.units is Units.STANDARD else 0.0

    def temperature(value: Any) -> float:
        return round(float(value) + shift, 2)

    temp = temperature(current["temperature_2m"])
    day_min = temperature(daily["temperature_2m_min"][0])
    day_max = temperature(daily["temperature_2m_max"][0])
    condition = owm_condition(int(current["weather_code"]), is_day=bool(current["is_day"]))
    return CurrentWeather.model_validate(
        {
            "coord": {"lon": place["longitude"], "lat": place["latitude"]},
            "weather": [condition],
            "main": {
                "temp": temp,
                "feels_like": temperature(current["apparent_temperature"]),
                # OpenWeatherMap's min/max bracket the reading; the day's range always does.
                "temp_min": min(day_min, temp),
                "temp_max": max(day_max, temp),
                "pressure": round(float(current["pressure_msl"])),
                "humidity": round(float(current["relative_humidity_2m"])),
            },
            "wind": {
                "speed": current["wind_speed_10m"],
                "deg": round(float(current["wind_direction_10m"])),
                "gust": current.get("wind_gusts_10m"),
            },
            "clouds": {"all": round(float(current["cloud_cover"]))},
            "dt": current["time"],
            "sys": {
                "country": place.get("country_code", query.location.country),
                "sunrise": daily["sunrise"][0],
                "sunset": daily["sunset"][0],
            },
            "timezone": forecast.get("utc_offset_seconds", 0),
            "id": place.get("id", 0),
            "name": place.get("name", query.location.city),
        }
    )
