"""The fake Open-Meteo APIs: geocoding (`GET /v1/search`) and forecast (`GET /v1/forecast`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from weather_api.synthetic import (
    Conditions,
    SpeedUnit,
    TemperatureUnit,
    conditions_at,
    convert_speed,
    convert_temperature,
    geocode,
    local_day,
    sun_times,
)

_TEMPERATURE_UNITS: dict[str, tuple[TemperatureUnit, str]] = {
    "celsius": ("celsius", "°C"),
    "fahrenheit": ("fahrenheit", "°F"),
}
_SPEED_UNITS: dict[str, tuple[SpeedUnit, str]] = {
    "ms": ("ms", "m/s"),
    "kmh": ("kmh", "km/h"),
    "mph": ("mph", "mp/h"),
    "kn": ("kn", "kn"),
}
_MAX_FORECAST_DAYS = 16


def _error(reason: str) -> tuple[int, dict[str, Any]]:
    return 400, {"error": True, "reason": reason}


def search(params: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of the geocoding API for these query parameters."""
    name = params.get("name")
    if name is None:
        return _error("Parameter 'name' is required")
    count = params.get("count", "10")
    if not count.isdigit() or not 1 <= int(count) <= 100:
        return _error("Parameter 'count' must be between 1 and 100")
    # Like the real API: names shorter than two letters and unknown places give no "results".
    place = geocode(name, params.get("countryCode")) if len(name.strip()) >= 2 else None
    if place is None:
        return 200, {"generationtime_ms": 0.3}
    return 200, {
        "results": [
            {
                "id": place.id,
                "name": place.name,
                "latitude": place.latitude,
                "longitude": place.longitude,
                "elevation": place.elevation,
                "feature_code": "PPLC",
                "country_code": place.country_code,
                "country": place.country,
                "timezone": place.timezone,
                "population": place.population,
                "admin1": place.admin1,
            }
        ],
        "generationtime_ms": 0.5,
    }


# Each variable: its unit ("T" and "S" stand for the requested temperature and speed units)
# and how to read it from the conditions in those units.
_Reader = Callable[[Conditions, TemperatureUnit, SpeedUnit], float | int]
_CURRENT: dict[str, tuple[str, _Reader]] = {
    "temperature_2m": ("T", lambda w, t, s: convert_temperature(w.temperature_c, t)),
    "relative_humidity_2m": ("%", lambda w, t, s: w.relative_humidity),
    "apparent_temperature": ("T", lambda w, t, s: convert_temperature(w.apparent_temperature_c, t)),
    "weather_code": ("wmo code", lambda w, t, s: w.weather_code),
    "cloud_cover": ("%", lambda w, t, s: w.cloud_cover),
    "pressure_msl": ("hPa", lambda w, t, s: float(w.pressure_msl)),
    "surface_pressure": ("hPa", lambda w, t, s: float(w.surface_pressure)),
    "wind_speed_10m": ("S", lambda w, t, s: convert_speed(w.wind_speed_ms, s)),
    "wind_direction_10m": ("°", lambda w, t, s: w.wind_direction),
    "wind_gusts_10m": ("S", lambda w, t, s: convert_speed(w.wind_gusts_ms, s)),
}
_CURRENT_NAMES = frozenset(_CURRENT) | {"is_day"}  # is_day depends on the clock, not the place
_DAILY = frozenset(("sunrise", "sunset", "temperature_2m_max", "temperature_2m_min"))
# Hourly: the current variables (the world does not change with the hour), and two more.
_HOURLY: dict[str, tuple[str, _Reader]] = {
    **_CURRENT,
    "precipitation_probability": ("%", lambda w, t, s: 0),
    "visibility": ("m", lambda w, t, s: float(w.visibility)),
}
_HOURLY_NAMES = frozenset(_HOURLY) | {"is_day"}


def _variables(params: Mapping[str, str], key: str) -> list[str]:
    return [name.strip() for name in params.get(key, "").split(",") if name.strip()]


def _coordinate(params: Mapping[str, str], key: str, limit: int) -> float | str:
    """The coordinate, or the reason it is unusable."""
    try:
        value = float(params[key])
    except (KeyError, ValueError):
        return f"Value of type 'Float' required for key '{key}'."
    if not -limit <= value <= limit:
        return f"{key.capitalize()} must be in range of -{limit} to {limit}°. Given: {value}."
    return value


def forecast(params: Mapping[str, str], *, now: int) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of the forecast API for these query parameters."""
    latitude = _coordinate(params, "latitude", 90)
    if isinstance(latitude, str):
        return _error(latitude)
    longitude = _coordinate(params, "longitude", 180)
    if isinstance(longitude, str):
        return _error(longitude)
    temperature_unit = _TEMPERATURE_UNITS.get(params.get("temperature_unit", "celsius"))
    if temperature_unit is None:
        return _error("Invalid value for 'temperature_unit'")
    speed_unit = _SPEED_UNITS.get(params.get("wind_speed_unit", "kmh"))
    if speed_unit is None:
        return _error("Invalid value for 'wind_speed_unit'")
    timeformat = params.get("timeformat", "iso8601")
    if timeformat not in ("iso8601", "unixtime"):
        return _error("Invalid value for 'timeformat'")
    days = params.get("forecast_days", "7")
    if not days.isdigit() or int(days) > _MAX_FORECAST_DAYS:
        return _error(f"Forecast days is invalid. Allowed range 0 to {_MAX_FORECAST_DAYS}.")
    current, daily = _variables(params, "current"), _variables(params, "daily")
    hourly = _variables(params, "hourly")
    for key, names, known in (
        ("current", current, _CURRENT_NAMES),
        ("daily", daily, _DAILY),
        ("hourly", hourly, _HOURLY_NAMES),
    ):
        unknown = next((name for name in names if name not in known), None)
        if unknown is not None:
            return _error(
                f"Cannot initialize ForecastVariable from invalid String value {unknown} "
                f"for key {key}"
            )

    weather = conditions_at(latitude, longitude)
    site = weather.site
    timezone = params.get("timezone", "GMT")
    if timezone == "auto":
        offset, tz_name, tz_abbreviation = (
            site.utc_offset_seconds,
            site.timezone,
            site.timezone_abbreviation,
        )
    elif timezone in ("GMT", "UTC"):
        offset, tz_name, tz_abbreviation = 0, "GMT", "GMT"
    else:
        return _error(f"Invalid timezone '{timezone}': the stub knows only 'auto' and 'GMT'")

    unixtime = timeformat == "unixtime"

    def moment(unix: int) -> int | str:
        if unixtime:
            return unix
        return datetime.fromtimestamp(unix + offset, tz=UTC).strftime("%Y-%m-%dT%H:%M")

    today = local_day(now, offset)
    sunrise, sunset = sun_times(site.latitude, site.longitude, day=today)
    units = {"T": temperature_unit[1], "S": speed_unit[1]}
    body: dict[str, Any] = {
        "latitude": site.latitude,
        "longitude": site.longitude,
        "generationtime_ms": 0.05,
        "utc_offset_seconds": offset,
        "timezone": tz_name,
        "timezone_abbreviation": tz_abbreviation,
        "elevation": site.elevation,
    }
    if current:
        current_units: dict[str, str] = {
            "time": "unixtime" if unixtime else "iso8601",
            "interval": "seconds",
        }
        values: dict[str, Any] = {"time": moment(now // 900 * 900), "interval": 900}
        for name in current:
            if name == "is_day":
                current_units[name] = ""
                values[name] = 1 if sunrise <= now < sunset else 0
                continue
            unit, read = _CURRENT[name]
            current_units[name] = units.get(unit, unit)
            values[name] = read(weather, temperature_unit[0], speed_unit[0])
        body["current_units"] = current_units
        body["current"] = values
    if hourly:
        hourly_units = {"time": "unixtime" if unixtime else "iso8601"}
        rows: dict[str, list[Any]] = {"time": []}
        for name in hourly:
            unit = "" if name == "is_day" else _HOURLY[name][0]
            hourly_units[name] = units.get(unit, unit)
            rows[name] = []
        first_hour = today * 86400 - offset
        for hour in range(first_hour, first_hour + int(days) * 86400, 3600):
            rows["time"].append(moment(hour))
            rise, set_ = sun_times(site.latitude, site.longitude, day=local_day(hour, offset))
            for name in hourly:
                if name == "is_day":
                    rows[name].append(1 if rise <= hour < set_ else 0)
                else:
                    rows[name].append(_HOURLY[name][1](weather, temperature_unit[0], speed_unit[0]))
        body["hourly_units"] = hourly_units
        body["hourly"] = rows
    if daily:
        daily_units = {"time": "unixtime" if unixtime else "iso8601"}
        columns: dict[str, list[Any]] = {"time": []}
        for name in daily:
            daily_units[name] = (
                temperature_unit[1] if name.startswith("temperature") else daily_units["time"]
            )
            columns[name] = []
        for day in range(today, today + int(days)):
            midnight = day * 86400 - offset
            columns["time"].append(
                midnight
                if unixtime
                else datetime.fromtimestamp(day * 86400, tz=UTC).strftime("%Y-%m-%d")
            )
            rise, set_ = sun_times(site.latitude, site.longitude, day=day)
            row = {
                "sunrise": moment(rise),
                "sunset": moment(set_),
                "temperature_2m_max": convert_temperature(
                    weather.temperature_max_c, temperature_unit[0]
                ),
                "temperature_2m_min": convert_temperature(
                    weather.temperature_min_c, temperature_unit[0]
                ),
            }
            for name in daily:
                columns[name].append(row[name])
        body["daily_units"] = daily_units
        body["daily"] = columns
    return 200, body
