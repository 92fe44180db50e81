"""The fake OpenWeatherMap current weather and forecast APIs (`GET /data/2.5/weather`,
`GET /data/2.5/forecast`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from weather_api.synthetic import (
    SpeedUnit,
    TemperatureUnit,
    conditions_at,
    convert_speed,
    convert_temperature,
    geocode,
    local_day,
    sun_times,
)

INVALID_KEY = {
    "cod": 401,
    "message": "Invalid API key. Please see https://openweathermap.org/faq#error401 for more info.",
}
# OpenWeatherMap sends `cod` as a string on these, unlike on success and on 401.
CITY_NOT_FOUND = {"cod": "404", "message": "city not found"}
NOTHING_TO_GEOCODE = {"cod": "400", "message": "Nothing to geocode"}
_BAD_COORDINATES = {"cod": "400", "message": "wrong latitude or longitude"}

# What OpenWeatherMap reports for each weather the world can show (keyed by its WMO code):
# condition id, group, description and icon without the day/night letter, from
# https://openweathermap.org/weather-conditions. Written here, not imported from the
# providers, so that the Open-Meteo provider's own reading of WMO codes is checked against it.
CONDITIONS: dict[int, tuple[int, str, str, str]] = {
    0: (800, "Clear", "clear sky", "01"),
    1: (801, "Clouds", "few clouds", "02"),
    2: (802, "Clouds", "scattered clouds", "03"),
    3: (804, "Clouds", "overcast clouds", "04"),
    45: (741, "Fog", "fog", "50"),
    51: (300, "Drizzle", "light intensity drizzle", "09"),
    53: (301, "Drizzle", "drizzle", "09"),
    61: (500, "Rain", "light rain", "10"),
    63: (501, "Rain", "moderate rain", "10"),
    65: (502, "Rain", "heavy intensity rain", "10"),
    71: (600, "Snow", "light snow", "13"),
    73: (601, "Snow", "snow", "13"),
    75: (602, "Snow", "heavy snow", "13"),
    80: (520, "Rain", "light intensity shower rain", "09"),
    81: (521, "Rain", "shower rain", "09"),
    85: (620, "Snow", "light shower snow", "13"),
    95: (211, "Thunderstorm", "thunderstorm", "11"),
}

# OpenWeatherMap falls back to "standard" for any `units` it does not know.
_UNITS: dict[str, tuple[TemperatureUnit, SpeedUnit]] = {
    "standard": ("kelvin", "ms"),
    "metric": ("celsius", "ms"),
    "imperial": ("fahrenheit", "mph"),
}


IDS_REMEMBERED = 10_000
"""Most city ids the stub can answer `id=` for: those of the latest cities asked for by name."""
# The world makes ids from names and cannot go back: an id is known once its city was asked.
_CITIES_BY_ID: dict[int, tuple[str, str]] = {}


def _remember(city_id: int, name: str, country_code: str) -> None:
    if city_id not in _CITIES_BY_ID and len(_CITIES_BY_ID) >= IDS_REMEMBERED:
        del _CITIES_BY_ID[next(iter(_CITIES_BY_ID))]
    _CITIES_BY_ID[city_id] = (name, country_code)


def _parse_q(q: str) -> tuple[str, str | None]:
    """Split "City", "City,CC" or "City,State,CC" into the city and the country code."""
    parts = [part.strip() for part in q.split(",")]
    return parts[0], (parts[-1] if len(parts) > 1 else None)


def _coordinate(raw: str, limit: float) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if -limit <= value <= limit else None


def current_weather(params: Mapping[str, str], *, now: int) -> tuple[int, dict[str, Any]]:
    """The status and JSON body OpenWeatherMap would send for these query parameters."""
    if not params.get("appid"):
        return 401, INVALID_KEY
    if "q" in params:
        city, country = _parse_q(params["q"])
        if not city:
            return 400, NOTHING_TO_GEOCODE
        place = geocode(city, country)
        if place is None:
            return 404, CITY_NOT_FOUND
        latitude, longitude = place.latitude, place.longitude
        name, country_code, city_id = place.name, place.country_code, place.id
        _remember(city_id, name, country_code)
    elif "id" in params:
        known = (
            _CITIES_BY_ID.get(int(params["id"]))
            if params["id"].isascii() and params["id"].isdigit()
            else None
        )
        place = geocode(*known) if known is not None else None
        if place is None:
            return 404, CITY_NOT_FOUND
        latitude, longitude = place.latitude, place.longitude
        name, country_code, city_id = place.name, place.country_code, place.id
    elif "lat" in params and "lon" in params:
        lat = _coordinate(params["lat"], 90)
        lon = _coordinate(params["lon"], 180)
        if lat is None or lon is None:
            return 400, _BAD_COORDINATES
        # No city to name: the real API names the nearest station, the stub names none.
        latitude, longitude, name, country_code, city_id = lat, lon, "", "", 0
    else:
        return 400, NOTHING_TO_GEOCODE
    temperature_unit, speed_unit = _UNITS.get(params.get("units", ""), _UNITS["standard"])
    weather = conditions_at(latitude, longitude)
    site = weather.site
    sunrise, sunset = sun_times(
        site.latitude, site.longitude, day=local_day(now, site.utc_offset_seconds)
    )
    condition_id, group, description, icon = CONDITIONS[weather.weather_code]
    day_or_night = "d" if sunrise <= now < sunset else "n"
    return 200, {
        "coord": {"lon": site.longitude, "lat": site.latitude},
        "weather": [
            {
                "id": condition_id,
                "main": group,
                "description": description,
                "icon": icon + day_or_night,
            }
        ],
        "base": "stations",
        "main": {
            "temp": convert_temperature(weather.temperature_c, temperature_unit),
            "feels_like": convert_temperature(weather.apparent_temperature_c, temperature_unit),
            "temp_min": convert_temperature(weather.temperature_min_c, temperature_unit),
            "temp_max": convert_temperature(weather.temperature_max_c, temperature_unit),
            "pressure": weather.pressure_msl,
            "humidity": weather.relative_humidity,
            "sea_level": weather.pressure_msl,
            "grnd_level": weather.surface_pressure,
        },
        "visibility": weather.visibility,
        "wind": {
            "speed": convert_speed(weather.wind_speed_ms, speed_unit),
            "deg": weather.wind_direction,
            "gust": convert_speed(weather.wind_gusts_ms, speed_unit),
        },
        "clouds": {"all": weather.cloud_cover},
        "dt": now,
        "sys": {
            "type": 2,
            "id": weather.station_id,
            "country": country_code,
            "sunrise": sunrise,
            "sunset": sunset,
        },
        "timezone": site.utc_offset_seconds,
        "id": city_id,
        "name": name,
        "cod": 200,
    }


FORECAST_STEP = 3 * 3600


def forecast(params: Mapping[str, str], *, now: int) -> tuple[int, dict[str, Any]]:
    """OpenWeatherMap's 5-day / 3-hour forecast: the world does not change, so 40 steps of the
    weather now, from the next 3-hour boundary; `cnt` honoured."""
    status, current = current_weather(params, now=now)
    if status != 200:
        return status, current
    raw_count = params.get("cnt", "40")
    count = min(40, int(raw_count)) if raw_count.isascii() and raw_count.isdigit() else 40
    first = (now // FORECAST_STEP + 1) * FORECAST_STEP
    steps = [
        {
            "dt": moment,
            "main": {**current["main"], "temp_kf": 0},
            "weather": current["weather"],
            "clouds": current["clouds"],
            "wind": current["wind"],
            "visibility": current["visibility"],
            "pop": 0,
            "sys": {"pod": current["weather"][0]["icon"][-1]},
            "dt_txt": datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%d %H:%M:%S"),
        }
        for moment in range(first, first + count * FORECAST_STEP, FORECAST_STEP)
    ]
    return 200, {
        "cod": "200",
        "message": 0,
        "cnt": len(steps),
        "list": steps,
        "city": {
            "id": current["id"],
            "name": current["name"],
            "coord": current["coord"],
            "country": current["sys"]["country"],
            "population": 0,
            "timezone": current["timezone"],
            "sunrise": current["sys"]["sunrise"],
            "sunset": current["sys"]["sunset"],
        },
    }
