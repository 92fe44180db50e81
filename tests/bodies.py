"""Realistic upstream bodies, shaped as the real APIs send them."""

from __future__ import annotations

from typing import Any


def owm_london(*, cod: int | str = 200, temp: float = 284.2) -> dict[str, Any]:
    """OpenWeatherMap's /data/2.5/weather for London (standard units)."""
    return {
        "coord": {"lon": -0.1257, "lat": 51.5085},
        "weather": [{"id": 803, "main": "Clouds", "description": "broken clouds", "icon": "04d"}],
        "base": "stations",
        "main": {
            "temp": temp,
            "feels_like": 283.37,
            "temp_min": 283.15,
            "temp_max": 285.37,
            "pressure": 1012,
            "humidity": 73,
            "sea_level": 1012,
            "grnd_level": 1008,
        },
        "visibility": 10000,
        "wind": {"speed": 4.63, "deg": 250},
        "clouds": {"all": 75},
        "dt": 1732780800,
        "sys": {
            "type": 2,
            "id": 2075535,
            "country": "GB",
            "sunrise": 1732779436,
            "sunset": 1732809390,
        },
        "timezone": 0,
        "id": 2643743,
        "name": "London",
        "cod": cod,
    }


OWM_NOT_FOUND = {"cod": "404", "message": "city not found"}
OWM_BAD_KEY = {
    "cod": 401,
    "message": "Invalid API key. Please see https://openweathermap.org/faq#error401",
}

OPENMETEO_LONDON_PLACE = {
    "results": [
        {
            "id": 2643743,
            "name": "London",
            "latitude": 51.50853,
            "longitude": -0.12574,
            "elevation": 25.0,
            "feature_code": "PPLC",
            "country_code": "GB",
            "timezone": "Europe/London",
            "population": 8961989,
            "country": "United Kingdom",
            "admin1": "England",
        }
    ],
    "generationtime_ms": 0.7,
}
OPENMETEO_NO_RESULTS = {"generationtime_ms": 0.4}


def openmeteo_forecast(
    *, temp: float = 11.1, wind: float = 4.6, code: int = 3, is_day: int = 1
) -> dict[str, Any]:
    """Open-Meteo /v1/forecast with current and daily blocks, unixtime."""
    return {
        "latitude": 51.5,
        "longitude": -0.12,
        "generationtime_ms": 0.1,
        "utc_offset_seconds": 0,
        "timezone": "Europe/London",
        "timezone_abbreviation": "GMT",
        "elevation": 23.0,
        "current_units": {"time": "unixtime", "temperature_2m": "°C"},
        "current": {
            "time": 1732780800,
            "interval": 900,
            "temperature_2m": temp,
            "relative_humidity_2m": 73,
            "apparent_temperature": 9.2,
            "weather_code": code,
            "cloud_cover": 100,
            "pressure_msl": 1012.4,
            "wind_speed_10m": wind,
            "wind_direction_10m": 250,
            "wind_gusts_10m": 9.8,
            "is_day": is_day,
        },
        "daily_units": {"time": "unixtime"},
        "daily": {
            "time": [1732752000],
            "sunrise": [1732779436],
            "sunset": [1732809390],
            "temperature_2m_max": [12.4],
            "temperature_2m_min": [7.9],
        },
    }
