"""The fake Open-Meteo geocoding and forecast endpoints."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from weather_api.synthetic import conditions_at, geocode

CURRENT = (
    "temperature_2m,relative_humidity_2m,apparent_temperature,weather_code,cloud_cover,"
    "pressure_msl,surface_pressure,wind_speed_10m,wind_direction_10m,wind_gusts_10m,is_day"
)
DAILY = "sunrise,sunset,temperature_2m_max,temperature_2m_min"


async def search(client: httpx.AsyncClient, **params: str) -> httpx.Response:
    """GET /v1/search with the service's usual parameters."""
    defaults = {"count": "1", "language": "en", "format": "json"}
    return await client.get("/v1/search", params={**defaults, **params})


async def forecast(client: httpx.AsyncClient, **params: str) -> httpx.Response:
    """GET /v1/forecast for Paris with the service's usual parameters."""
    defaults = {
        "latitude": "48.85",
        "longitude": "2.35",
        "current": CURRENT,
        "daily": DAILY,
        "timezone": "auto",
        "timeformat": "unixtime",
        "forecast_days": "1",
    }
    return await client.get("/v1/forecast", params={**defaults, **params})


async def test_search_shape(client: httpx.AsyncClient) -> None:
    """A known city gets one result with Open-Meteo's geocoding fields."""
    response = await search(client, name="London", countryCode="GB")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "generationtime_ms"}
    (result,) = body["results"]
    assert set(result) == {
        "id",
        "name",
        "latitude",
        "longitude",
        "elevation",
        "feature_code",
        "country_code",
        "country",
        "timezone",
        "population",
        "admin1",
    }
    place = geocode("London", "GB")
    assert place is not None
    assert (result["name"], result["country_code"], result["country"]) == (
        "London",
        "GB",
        "United Kingdom",
    )
    assert (result["latitude"], result["longitude"]) == (place.latitude, place.longitude)
    assert result["feature_code"] == "PPLC"


async def test_search_is_deterministic(client: httpx.AsyncClient) -> None:
    """The same name and country code give the same result, whatever their case."""
    first = (await search(client, name="Lyon", countryCode="FR")).json()
    second = (await search(client, name="lyon", countryCode="fr")).json()
    assert first == second


async def test_search_without_country(client: httpx.AsyncClient) -> None:
    """Without `countryCode` the place is the one OpenWeatherMap's `q=City` finds."""
    (result,) = (await search(client, name="Springfield")).json()["results"]
    owm = (await client.get("/data/2.5/weather", params={"q": "Springfield", "appid": "k"})).json()
    assert (result["latitude"], result["longitude"]) == (owm["coord"]["lat"], owm["coord"]["lon"])
    assert result["country_code"] == owm["sys"]["country"]


@pytest.mark.parametrize(
    "params",
    [{"name": "Nowhere"}, {"name": "nowheresville", "countryCode": "GB"}, {"name": "L"}],
)
async def test_search_without_results(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    """Unknown or one-letter names are 200 without a "results" key, like the real API."""
    response = await search(client, **params)
    assert response.status_code == 200
    assert response.json() == {"generationtime_ms": 0.3}


@pytest.mark.parametrize("params", [{"count": "1"}, {"name": "x", "count": "0"}])
async def test_search_bad_parameters(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    """A missing name or a count outside 1..100 is 400 with Open-Meteo's error body."""
    response = await client.get("/v1/search", params=params)
    assert response.status_code == 400
    assert response.json()["error"] is True


async def test_forecast_shape(client: httpx.AsyncClient) -> None:
    """The forecast has Open-Meteo's top-level keys and every requested variable."""
    response = await forecast(client, wind_speed_unit="ms")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == [
        "latitude",
        "longitude",
        "generationtime_ms",
        "utc_offset_seconds",
        "timezone",
        "timezone_abbreviation",
        "elevation",
        "current_units",
        "current",
        "daily_units",
        "daily",
    ]
    assert list(body["current"]) == ["time", "interval", *CURRENT.split(",")]
    assert body["current"]["interval"] == 900
    assert isinstance(body["current"]["time"], int)
    assert abs(body["current"]["time"] - time.time()) <= 900
    assert body["current_units"] == {
        "time": "unixtime",
        "interval": "seconds",
        "temperature_2m": "°C",
        "relative_humidity_2m": "%",
        "apparent_temperature": "°C",
        "weather_code": "wmo code",
        "cloud_cover": "%",
        "pressure_msl": "hPa",
        "surface_pressure": "hPa",
        "wind_speed_10m": "m/s",
        "wind_direction_10m": "°",
        "wind_gusts_10m": "m/s",
        "is_day": "",
    }
    assert list(body["daily"]) == ["time", *DAILY.split(",")]
    assert all(len(column) == 1 for column in body["daily"].values())
    assert body["daily_units"]["sunrise"] == "unixtime"
    assert body["daily_units"]["temperature_2m_max"] == "°C"
    weather = conditions_at(48.85, 2.35)
    assert body["current"]["temperature_2m"] == weather.temperature_c
    assert body["current"]["is_day"] in (0, 1)
    assert (body["latitude"], body["longitude"]) == (48.85, 2.35)


async def test_forecast_returns_only_what_was_asked(client: httpx.AsyncClient) -> None:
    """Variables not requested are absent; no `current` or `daily` means no such sections."""
    body = (await forecast(client, current="temperature_2m", daily="")).json()
    assert list(body["current"]) == ["time", "interval", "temperature_2m"]
    assert "daily" not in body
    assert "daily_units" not in body
    body = (await client.get("/v1/forecast", params={"latitude": "1", "longitude": "2"})).json()
    assert "current" not in body
    assert "daily" not in body


@pytest.mark.parametrize(
    ("unit", "label", "value"),
    [("ms", "m/s", lambda ms: ms), ("kmh", "km/h", lambda ms: round(ms * 3.6, 2))],
)
async def test_forecast_wind_units(
    client: httpx.AsyncClient, unit: str, label: str, value: Any
) -> None:
    """`wind_speed_unit` converts the wind and labels it."""
    body = (await forecast(client, wind_speed_unit=unit)).json()
    weather = conditions_at(48.85, 2.35)
    assert body["current_units"]["wind_speed_10m"] == label
    assert body["current"]["wind_speed_10m"] == value(weather.wind_speed_ms)


async def test_forecast_defaults_to_kmh_and_celsius(client: httpx.AsyncClient) -> None:
    """Like the real API, the default units are km/h and degrees Celsius."""
    body = (await forecast(client)).json()
    assert body["current_units"]["wind_speed_10m"] == "km/h"
    assert body["current_units"]["temperature_2m"] == "°C"


async def test_forecast_iso8601_and_gmt(client: httpx.AsyncClient) -> None:
    """Without `timeformat=unixtime` times are local ISO 8601 strings; GMT has offset 0."""
    body = (await forecast(client, timeformat="iso8601", timezone="GMT", forecast_days="3")).json()
    assert (body["utc_offset_seconds"], body["timezone"]) == (0, "GMT")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d", body["current"]["time"])
    assert body["current_units"]["time"] == "iso8601"
    assert len(body["daily"]["time"]) == 3
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", day) for day in body["daily"]["time"])
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d", t) for t in body["daily"]["sunrise"])


async def test_forecast_auto_timezone(client: httpx.AsyncClient) -> None:
    """`timezone=auto` uses the place's offset, and the daily times are local midnights."""
    body = (await forecast(client, latitude="35.68", longitude="139.69")).json()
    assert body["utc_offset_seconds"] == 9 * 3600
    assert body["timezone"] == "Etc/GMT-9"
    assert body["timezone_abbreviation"] == "GMT+9"
    midnight = body["daily"]["time"][0]
    assert (midnight + body["utc_offset_seconds"]) % 86400 == 0
    assert midnight < body["daily"]["sunrise"][0] < body["daily"]["sunset"][0] < midnight + 86400


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"latitude": None}, "latitude"),
        ({"longitude": "east"}, "longitude"),
        ({"latitude": "91"}, "Latitude must be in range"),
        ({"longitude": "-180.5"}, "Longitude must be in range"),
        ({"current": "temperature_2m,snow_depth_9m"}, "snow_depth_9m"),
        ({"daily": "sunrise,uv_index_max"}, "uv_index_max"),
        ({"temperature_unit": "kelvin"}, "temperature_unit"),
        ({"wind_speed_unit": "furlongs"}, "wind_speed_unit"),
        ({"timeformat": "excel"}, "timeformat"),
        ({"forecast_days": "17"}, "Forecast days"),
        ({"forecast_days": "-1"}, "Forecast days"),
        ({"timezone": "Europe/Paris"}, "timezone"),
    ],
)
async def test_forecast_bad_parameters(
    client: httpx.AsyncClient, params: dict[str, str | None], reason: str
) -> None:
    """Missing or invalid parameters and unknown variables are 400 with a reason."""
    defaults = {
        "latitude": "48.85",
        "longitude": "2.35",
        "current": "temperature_2m",
        "daily": "sunrise",
    }
    query = {k: v for k, v in {**defaults, **params}.items() if v is not None}
    response = await client.get("/v1/forecast", params=query)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] is True
    assert reason in body["reason"]
