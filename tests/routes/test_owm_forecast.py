"""`GET /data/2.5/forecast` in process: OWM's 3-hour steps from each provider, cnt, a cache."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import respx

from tests.bodies import OPENMETEO_LONDON_PLACE, OWM_NOT_FOUND
from tests.conftest import FORECAST_URL, GEOCODING_URL, make_settings, running_app
from weather_api.stub import StubServer

FORECAST = "/data/2.5/forecast"
STEP = 3 * 3600


def hourly_body(start: int, hours: int) -> dict[str, Any]:
    """Open-Meteo's hourly forecast from `start`: the hour's index is in every reading."""
    times = [start + hour * 3600 for hour in range(hours)]
    return {
        "latitude": 51.5,
        "longitude": -0.12,
        "utc_offset_seconds": 0,
        "timezone": "Europe/London",
        "hourly_units": {"time": "unixtime", "temperature_2m": "°C", "wind_speed_10m": "m/s"},
        "hourly": {
            "time": times,
            # Degrees Celsius: the hour of the day, so each 3-hour step spans 2 degrees.
            "temperature_2m": [float(moment // 3600 % 24) for moment in times],
            "apparent_temperature": [0.0 for _ in times],
            "relative_humidity_2m": [70 for _ in times],
            # Rain (61) in the second hour of every step: the step reports it.
            "weather_code": [61 if moment // 3600 % 3 == 1 else 0 for moment in times],
            "cloud_cover": [50 for _ in times],
            "pressure_msl": [1012.4 for _ in times],
            "wind_speed_10m": [3.0 for _ in times],
            "wind_direction_10m": [200 for _ in times],
            "wind_gusts_10m": [6.0 for _ in times],
            "precipitation_probability": [[10, 80, 20][moment // 3600 % 3] for moment in times],
            "visibility": [24140.0 for _ in times],
            "is_day": [1 for _ in times],
        },
        "daily_units": {"time": "unixtime"},
        "daily": {"time": [start], "sunrise": [start + 28000], "sunset": [start + 58000]},
    }


async def test_open_meteo_hours_become_owms_three_hour_steps(openmeteo: respx.Router) -> None:
    """40 steps on 3-hour boundaries after now, Kelvin, min/max/pop/weather over 3 hours."""
    midnight = int(time.time()) // 86400 * 86400
    openmeteo.get(f"{GEOCODING_URL}/v1/search").respond(json=OPENMETEO_LONDON_PLACE)
    hourly = openmeteo.get(f"{FORECAST_URL}/v1/forecast").respond(
        json=hourly_body(midnight, 7 * 24)
    )
    async with running_app(make_settings(provider="openmeteo"), upstream=openmeteo) as client:
        before = int(time.time())
        response = await client.get(FORECAST, params={"q": "London,GB"})
        after = int(time.time())
    assert response.status_code == 200, response.text
    assert hourly.calls[0].request.url.params["hourly"].startswith("temperature_2m,")
    body = response.json()
    assert body["cod"] == "200"
    assert body["cnt"] == len(body["list"]) == 40
    assert body["city"]["name"] == "London"
    assert body["city"]["country"] == "GB"
    first = body["list"][0]["dt"]
    assert first in {(moment // STEP + 1) * STEP for moment in (before, after)}
    assert [step["dt"] for step in body["list"]] == list(range(first, first + 40 * STEP, STEP))
    step = body["list"][0]
    hour = first // 3600 % 24
    assert step["main"]["temp"] == round(hour + 273.15, 2)
    assert step["main"]["temp_min"] == round(hour + 273.15, 2)
    assert step["main"]["temp_max"] == round(hour + 2 + 273.15, 2)
    assert step["pop"] == 0.8
    assert step["weather"][0]["main"] == "Rain"
    assert step["visibility"] == 10000
    assert step["dt_txt"] == time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(first))


async def test_cnt_is_honoured_from_one_cached_forecast(owm: respx.Router) -> None:
    """cnt=2 and cnt=5 are cut from one upstream forecast, cached apart from current weather."""
    forecast = owm.get("/data/2.5/forecast").respond(json=owm_forecast())
    async with running_app(make_settings(provider="openweathermap"), upstream=owm) as client:
        two = await client.get(FORECAST, params={"q": "London,GB", "cnt": "2"})
        five = await client.get(FORECAST, params={"q": "London,GB", "cnt": "5"})
        everything = await client.get(FORECAST, params={"q": "London,GB"})
    assert [r.json()["cnt"] for r in (two, five, everything)] == [2, 5, 40]
    assert [len(r.json()["list"]) for r in (two, five, everything)] == [2, 5, 40]
    assert five.json()["list"][:2] == two.json()["list"]
    assert (two.headers["x-cache"], five.headers["x-cache"]) == ("miss", "hit")
    assert forecast.call_count == 1
    assert "cnt" not in forecast.calls[0].request.url.params


async def test_forecast_cache_ttl_zero_asks_each_time(owm: respx.Router) -> None:
    """--forecast-cache-ttl 0 turns the forecast's cache off, not current weather's."""
    forecast = owm.get("/data/2.5/forecast").respond(json=owm_forecast())
    settings = make_settings(provider="openweathermap", forecast_cache_ttl=0)
    async with running_app(settings, upstream=owm) as client:
        for _ in range(2):
            assert (await client.get(FORECAST, params={"q": "London,GB"})).status_code == 200
    assert forecast.call_count == 2


async def test_forecast_errors_keep_owms_shape(owm: respx.Router) -> None:
    """Unknown city 404, bad cnt 400, upstream timeout 504: `cod` and `message` each time."""
    owm.get("/data/2.5/forecast").mock(
        side_effect=[httpx.Response(404, json=OWM_NOT_FOUND), httpx.ReadTimeout("slow")]
    )
    settings = make_settings(provider="openweathermap", retry_attempts=1)
    async with running_app(settings, upstream=owm) as client:
        unknown = await client.get(FORECAST, params={"q": "Atlantis,GR"})
        bad = await client.get(FORECAST, params={"q": "London,GB", "cnt": "41"})
        slow = await client.get(FORECAST, params={"q": "Paris,FR"})
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"cod": "404", "message": "city not found"},
    )
    assert (bad.status_code, bad.json()["cod"]) == (400, "400")
    assert (slow.status_code, slow.json()["cod"]) == (504, 504)


async def test_the_sample_provider_forecasts_too() -> None:
    """Made-up weather has a forecast of 40 steps, by place and by coordinates."""
    async with running_app(make_settings(provider="sample")) as client:
        by_place = await client.get(FORECAST, params={"q": "Oslo,NO"})
        by_point = await client.get(FORECAST, params={"lat": "59.9", "lon": "10.7", "cnt": "3"})
    assert by_place.json()["cnt"] == 40
    assert by_place.json()["city"]["name"] == "Oslo"
    assert by_point.json()["cnt"] == 3


def owm_forecast() -> dict[str, Any]:
    """OpenWeatherMap's /data/2.5/forecast for London: 40 steps (as its API sends them)."""
    first = 1732784400
    return {
        "cod": "200",
        "message": 0,
        "cnt": 40,
        "list": [
            {
                "dt": first + index * STEP,
                "main": {"temp": 280.0 + index / 10, "temp_min": 279.0, "temp_max": 281.0},
                "weather": [
                    {"id": 500, "main": "Rain", "description": "light rain", "icon": "10d"}
                ],
                "clouds": {"all": 90},
                "wind": {"speed": 4.1, "deg": 240},
                "visibility": 10000,
                "pop": 0.4,
                "sys": {"pod": "d"},
                "dt_txt": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(first + index * STEP)),
            }
            for index in range(40)
        ],
        "city": {
            "id": 2643743,
            "name": "London",
            "coord": {"lat": 51.5085, "lon": -0.1257},
            "country": "GB",
            "population": 1000000,
            "timezone": 0,
            "sunrise": 1732779436,
            "sunset": 1732809390,
        },
    }


async def test_both_providers_forecast_alike_against_the_stub(stub: StubServer) -> None:
    """Real sockets to the stub: OWM's forecast and Open-Meteo's hours folded into steps agree."""
    bodies = []
    for provider in ("openweathermap", "openmeteo"):
        settings = make_settings(provider=provider, upstream_url=stub.url)
        async with running_app(settings) as client:
            response = await client.get(FORECAST, params={"q": "Paris,FR", "units": "metric"})
        assert response.status_code == 200, (provider, response.text)
        bodies.append(response.json())
    owm, meteo = bodies
    assert owm["cnt"] == meteo["cnt"] == 40
    assert owm["city"]["name"] == meteo["city"]["name"] == "Paris"
    for ours, theirs in zip(owm["list"], meteo["list"], strict=True):
        assert ours["dt"] == theirs["dt"] or abs(ours["dt"] - theirs["dt"]) == STEP  # a boundary
        assert ours["main"]["temp"] == pytest.approx(theirs["main"]["temp"], abs=0.06)
        assert ours["weather"][0]["id"] == theirs["weather"][0]["id"]
