"""Open-Meteo (keyless): geocode the city, then read the current weather at its coordinates."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from weather_api.errors import LocationNotFound, UpstreamBadResponse
from weather_api.locations import CityId, Coordinates, Units, WeatherQuery
from weather_api.providers.upstream import AnswerMismatch, UpstreamClient
from weather_api.providers.wmo import owm_condition
from weather_api.schemas import FORECAST_STEP_SECONDS, FORECAST_STEPS, CurrentWeather, Forecast

KELVIN_OFFSET = 273.15
MAX_GRID_OFFSET_DEGREES = 0.5
"""How far a forecast's coordinates may lie from the point asked for: Open-Meteo answers for the
centre of the model grid cell that holds it (cells are at most ~0.25 degrees across)."""
T = TypeVar("T")

_CURRENT = (
    "temperature_2m,relative_humidity_2m,apparent_temperature,weather_code,cloud_cover,"
    "pressure_msl,wind_speed_10m,wind_direction_10m,wind_gusts_10m,is_day"
)
_DAILY = "sunrise,sunset,temperature_2m_max,temperature_2m_min"
_HOURLY = (
    "temperature_2m,relative_humidity_2m,apparent_temperature,weather_code,cloud_cover,"
    "pressure_msl,wind_speed_10m,wind_direction_10m,wind_gusts_10m,precipitation_probability,"
    "visibility,is_day"
)
# Open-Meteo has no Kelvin: ask for Celsius and shift. Wind as OpenWeatherMap gives it.
_UNIT_PARAMS = {
    Units.STANDARD: {"temperature_unit": "celsius", "wind_speed_unit": "ms"},
    Units.METRIC: {"temperature_unit": "celsius", "wind_speed_unit": "ms"},
    Units.IMPERIAL: {"temperature_unit": "fahrenheit", "wind_speed_unit": "mph"},
}
# How Open-Meteo labels those units in a forecast's `current_units`.
_UNIT_LABELS = {
    Units.STANDARD: {"temperature_2m": "°C", "wind_speed_10m": "m/s"},
    Units.METRIC: {"temperature_2m": "°C", "wind_speed_10m": "m/s"},
    Units.IMPERIAL: {"temperature_2m": "°F", "wind_speed_10m": "mp/h"},
}


class OpenMeteoProvider:
    """https://open-meteo.com/en/docs and https://open-meteo.com/en/docs/geocoding-api."""

    name = "openmeteo"

    def __init__(
        self,
        upstream: UpstreamClient,
        *,
        geocoding_url: str,
        forecast_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._upstream = upstream
        self._clock = clock
        self._search_url = geocoding_url.rstrip("/") + "/v1/search"
        self._forecast_url = forecast_url.rstrip("/") + "/v1/forecast"

    async def current(self, query: WeatherQuery) -> CurrentWeather:
        """Two upstream calls within one deadline: the place, then its weather, in OWM's shape."""
        with self._upstream.one_deadline():
            place = await self._geocode(query) if _named(query) else _point(query)
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
                decode=lambda body: _near(json.loads(body), place),
            )
        self._check_not_error(forecast)
        try:
            if not isinstance(forecast, dict):
                raise TypeError("forecast is not an object")
            _check_units(forecast, query.units)
            return _to_owm(place, forecast, query)
        # ArithmeticError: json.loads reads `Infinity`, which round() cannot make an int of.
        except (KeyError, IndexError, TypeError, ValueError, ArithmeticError, ValidationError):
            raise UpstreamBadResponse(
                "The openmeteo upstream sent a forecast we cannot read.", provider=self.name
            ) from None

    async def forecast(self, query: WeatherQuery) -> Forecast:
        """Open-Meteo's hourly forecast in OpenWeatherMap's 3-hour steps (two upstream calls)."""
        with self._upstream.one_deadline():
            place = await self._geocode(query) if _named(query) else _point(query)
            hourly = await self._upstream.get(
                self._forecast_url,
                params={
                    "latitude": str(place["latitude"]),
                    "longitude": str(place["longitude"]),
                    "hourly": _HOURLY,
                    "daily": "sunrise,sunset",
                    "timezone": "auto",
                    "timeformat": "unixtime",
                    "forecast_days": "7",  # 40 steps from the next boundary reach day 6
                    **_UNIT_PARAMS[query.units],
                },
                decode=json.loads,
            )
        self._check_not_error(hourly)
        try:
            if not isinstance(hourly, dict):
                raise TypeError("forecast is not an object")
            # The same labels as for current readings, under `hourly_units`.
            _check_units({"current_units": hourly.get("hourly_units")}, query.units)
            return _to_owm_forecast(place, hourly, query, now=int(self._clock()))
        except (KeyError, IndexError, TypeError, ValueError, ArithmeticError, ValidationError):
            raise UpstreamBadResponse(
                "The openmeteo upstream sent a forecast we cannot read.", provider=self.name
            ) from None

    async def _geocode(self, query: WeatherQuery) -> dict[str, Any]:
        body = await self._upstream.get(
            self._search_url,
            params={
                "name": query.location.city,
                # Without a country (OpenWeatherMap's `q=London`), the best match anywhere.
                **({"countryCode": query.location.country} if query.location.country else {}),
                "count": "1",
                "language": query.lang.split("_")[0],
                "format": "json",
            },
            decode=lambda raw: _in_country(json.loads(raw), query.location.country),
        )
        self._check_not_error(body)
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

    def _check_not_error(self, body: object) -> None:
        """`{"error": true, "reason": ...}` is Open-Meteo's failure, whatever the status."""
        if isinstance(body, dict) and body.get("error") is True:
            # Its `reason` is not passed on: upstream text stays out of our answers.
            raise UpstreamBadResponse(
                "The openmeteo upstream answered with an error.", provider=self.name
            )


def _in_country(body: Any, country: str) -> Any:
    """The geocoding answer, refused when it is a forecast or its first place is in another
    country than asked (both endpoints may share one connection, and its answers)."""
    if isinstance(body, dict) and ("current" in body or "latitude" in body):
        raise AnswerMismatch("asked for places, answered with a forecast")
    results = body.get("results") if isinstance(body, dict) else None
    place = results[0] if isinstance(results, list) and results else None
    answered = place.get("country_code") if isinstance(place, dict) else None
    if isinstance(answered, str) and answered and answered.upper() != country:
        raise AnswerMismatch(f"asked for a place in {country}, answered with one in {answered}")
    return body


def _near(body: Any, place: dict[str, Any]) -> Any:
    """The forecast, refused when it is a geocoding answer or for a point outside the grid cell
    of `place`."""
    if not isinstance(body, dict) or body.get("error") is True:
        return body  # read (and refused) by the caller
    if "results" in body:
        raise AnswerMismatch("asked for a forecast, answered with places")
    for axis in ("latitude", "longitude"):
        try:
            offset = abs(float(body[axis]) - float(place[axis]))
        except (KeyError, TypeError, ValueError):
            continue  # unlabelled: the answer's other checks decide
        if axis == "longitude":
            offset = min(offset, 360 - offset)  # across the antimeridian
        if offset > MAX_GRID_OFFSET_DEGREES:
            raise AnswerMismatch(f"asked for {axis} {place[axis]}, answered for {body[axis]}")
    return body


def _named(query: WeatherQuery) -> bool:
    return not isinstance(query.location, Coordinates | CityId)


def _point(query: WeatherQuery) -> dict[str, Any]:
    """A place without geocoding: coordinates as given; Open-Meteo has no city ids."""
    location = query.location
    if not isinstance(location, Coordinates):
        raise LocationNotFound(
            "Open-Meteo has no city ids: id lookups need --provider openweathermap."
        )
    return {"latitude": location.lat, "longitude": location.lon, "name": "", "country_code": ""}


def _check_units(forecast: dict[str, Any], units: Units) -> None:
    """Refuse readings labelled in units other than those we asked for (not mislabel them)."""
    labels = forecast.get("current_units")
    if not isinstance(labels, dict):
        return  # not labelled: read as asked
    for variable, expected in _UNIT_LABELS[units].items():
        label = labels.get(variable)
        if label is not None and label != expected:
            raise ValueError(f"{variable} is in {label!r}, not {expected!r}")


def _optional(value: Any, convert: Callable[[Any], T]) -> T | None:
    """`convert(value)`, or None when Open-Meteo sent no value (absent or null)."""
    return None if value is None else convert(value)


def _first(daily: dict[str, Any], name: str) -> Any:
    """The first day's value of a daily variable, or None."""
    values = daily.get(name)
    return values[0] if isinstance(values, list) and values else None


def _to_owm(place: dict[str, Any], forecast: dict[str, Any], query: WeatherQuery) -> CurrentWeather:
    # Required: the temperature and the weather code. The rest is left out when Open-Meteo
    # sends it as null or not at all.
    current = forecast["current"]
    daily = forecast.get("daily")
    daily = daily if isinstance(daily, dict) else {}
    shift = KELVIN_OFFSET if query.units is Units.STANDARD else 0.0

    def temperature(value: Any) -> float:
        return round(float(value) + shift, 2)

    def whole(value: Any) -> int:
        return round(float(value))

    temp = temperature(current["temperature_2m"])
    day_min = _optional(_first(daily, "temperature_2m_min"), temperature)
    day_max = _optional(_first(daily, "temperature_2m_max"), temperature)
    condition = owm_condition(int(current["weather_code"]), is_day=bool(current.get("is_day", 1)))
    return CurrentWeather.model_validate(
        {
            "coord": {"lon": place["longitude"], "lat": place["latitude"]},
            "weather": [condition],
            "main": {
                "temp": temp,
                "feels_like": _optional(current.get("apparent_temperature"), temperature),
                # OpenWeatherMap's min/max bracket the reading; the day's range always does.
                "temp_min": None if day_min is None else min(day_min, temp),
                "temp_max": None if day_max is None else max(day_max, temp),
                "pressure": _optional(current.get("pressure_msl"), whole),
                "humidity": _optional(current.get("relative_humidity_2m"), whole),
            },
            "wind": {
                "speed": current.get("wind_speed_10m"),
                "deg": _optional(current.get("wind_direction_10m"), whole),
                "gust": current.get("wind_gusts_10m"),
            },
            "clouds": _optional(current.get("cloud_cover"), lambda cover: {"all": whole(cover)}),
            "dt": current.get("time"),
            "sys": {
                "country": place.get("country_code", query.location.country),
                "sunrise": _first(daily, "sunrise"),
                "sunset": _first(daily, "sunset"),
            },
            "timezone": forecast.get("utc_offset_seconds"),
            "id": place.get("id"),
            "name": place.get("name") or query.location.city,
        }
    )


def _to_owm_forecast(
    place: dict[str, Any], body: dict[str, Any], query: WeatherQuery, *, now: int
) -> Forecast:
    """Hourly readings as OpenWeatherMap's steps: each starts on a 3-hour boundary (UTC) after
    `now` and reads its first hour, with the three hours' lowest and highest temperature, their
    highest chance of precipitation and their most severe weather code (WMO codes grow with
    severity)."""
    hourly = body["hourly"]
    times = hourly["time"]
    if not isinstance(times, list):
        raise TypeError("hourly.time is not a list")
    row = {moment: index for index, moment in enumerate(times)}
    shift = KELVIN_OFFSET if query.units is Units.STANDARD else 0.0

    def temperature(value: Any) -> float:
        return round(float(value) + shift, 2)

    def whole(value: Any) -> int:
        return round(float(value))

    def window(name: str, index: int) -> list[Any]:
        values = hourly.get(name)
        if not isinstance(values, list):
            return []
        return [value for value in values[index : index + 3] if value is not None]

    def at(name: str, index: int) -> Any:
        values = hourly.get(name)
        return values[index] if isinstance(values, list) and index < len(values) else None

    first = (now // FORECAST_STEP_SECONDS + 1) * FORECAST_STEP_SECONDS
    steps = []
    for moment in range(
        first, first + FORECAST_STEPS * FORECAST_STEP_SECONDS, FORECAST_STEP_SECONDS
    ):
        index = row.get(moment)
        if index is None:
            break  # Open-Meteo's horizon ends here
        temps = [temperature(value) for value in window("temperature_2m", index)]
        codes = [int(code) for code in window("weather_code", index)]
        chances = window("precipitation_probability", index)
        is_day = at("is_day", index)
        condition = owm_condition(max(codes), is_day=bool(1 if is_day is None else is_day))
        steps.append(
            {
                "dt": moment,
                "main": {
                    "temp": temperature(hourly["temperature_2m"][index]),
                    "feels_like": _optional(at("apparent_temperature", index), temperature),
                    "temp_min": min(temps),
                    "temp_max": max(temps),
                    "pressure": _optional(at("pressure_msl", index), whole),
                    "humidity": _optional(at("relative_humidity_2m", index), whole),
                },
                "weather": [condition],
                "clouds": _optional(at("cloud_cover", index), lambda cover: {"all": whole(cover)}),
                "wind": {
                    "speed": at("wind_speed_10m", index),
                    "deg": _optional(at("wind_direction_10m", index), whole),
                    "gust": at("wind_gusts_10m", index),
                },
                "visibility": _optional(
                    at("visibility", index), lambda metres: min(10_000, whole(metres))
                ),
                "pop": round(max(chances) / 100, 2) if chances else 0,
                "dt_txt": datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
    daily = body.get("daily")
    daily = daily if isinstance(daily, dict) else {}
    return Forecast.model_validate(
        {
            "cnt": len(steps),
            "list": steps,
            "city": {
                "id": place.get("id"),
                "name": place.get("name") or query.location.city,
                "coord": {"lat": place["latitude"], "lon": place["longitude"]},
                "country": place.get("country_code", query.location.country) or None,
                "population": place.get("population"),
                "timezone": body.get("utc_offset_seconds"),
                "sunrise": _first(daily, "sunrise"),
                "sunset": _first(daily, "sunset"),
            },
        }
    )
