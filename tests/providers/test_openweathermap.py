"""OpenWeatherMap bodies read leniently: only name, coordinates, a condition and a temperature."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from tests.bodies import owm_london
from tests.conftest import OWM_URL, make_settings, running_app


def older_era_body() -> dict[str, Any]:
    """A real /data/2.5/weather body of an older era: no feels_like, timezone or visibility."""
    return {
        "coord": {"lon": -0.13, "lat": 51.51},
        "weather": [{"id": 300, "main": "Drizzle", "description": "light intensity drizzle"}],
        "base": "stations",
        "main": {
            "temp": 280.32,
            "pressure": 1012.5,  # a float, as it was then
            "humidity": 81,
            "temp_min": 279.15,
            "temp_max": 281.15,
        },
        "wind": {"speed": 4.1, "deg": 80.5},
        "clouds": {"all": 90},
        "dt": 1485789600,
        "sys": {"type": 1, "id": 5091, "message": 0.0103, "country": "GB"},
        "id": 2643743,
        "name": "London",
        "cod": 200,
        "something_new": {"nested": [1, 2, 3]},
    }


async def get_london(owm: respx.Router, body: object) -> httpx.Response:
    owm.get(f"{OWM_URL}/data/2.5/weather").respond(json=body)
    settings = make_settings(provider="openweathermap")
    async with running_app(settings, upstream=owm) as client:
        return await client.get("/london/gb/")


async def test_an_older_body_is_served_with_the_missing_fields_left_out(
    owm: respx.Router,
) -> None:
    """No feels_like/timezone/visibility/sunrise: 200, those fields omitted, floats kept."""
    response = await get_london(owm, older_era_body())
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "London"
    assert body["main"] == {
        "temp": 280.32,
        "pressure": 1012.5,
        "humidity": 81,
        "temp_min": 279.15,
        "temp_max": 281.15,
    }
    assert "feels_like" not in body["main"]
    assert "timezone" not in body
    assert "visibility" not in body
    assert body["sys"] == {"country": "GB"}
    assert body["wind"] == {"speed": 4.1, "deg": 80.5}
    assert body["weather"] == [
        {"id": 300, "main": "Drizzle", "description": "light intensity drizzle"}
    ]
    assert "something_new" not in body


async def test_only_the_essentials_are_enough(owm: respx.Router) -> None:
    """Name, coordinates, one condition and a temperature make an answer."""
    minimal = {
        "coord": {"lon": 1, "lat": 2},
        "weather": [{"id": 800, "main": "Clear"}],
        "main": {"temp": 290},
        "name": "London",
    }
    response = await get_london(owm, minimal)
    assert response.status_code == 200
    assert response.json() == {**minimal, "cod": 200}


@pytest.mark.parametrize(
    "missing",
    [
        lambda body: body.pop("name"),
        lambda body: body.pop("coord"),
        lambda body: body["coord"].pop("lat"),
        lambda body: body.update(weather=[]),
        lambda body: body.pop("weather"),
        lambda body: body["main"].pop("temp"),
        lambda body: body.pop("main"),
    ],
    ids=["name", "coord", "lat", "empty weather", "weather", "temp", "main"],
)
async def test_a_body_without_an_essential_is_502(owm: respx.Router, missing: Any) -> None:
    """Without the name, coordinates, a condition or a temperature there is no answer: 502."""
    body = owm_london()
    missing(body)
    response = await get_london(owm, body)
    assert response.status_code == 502
    assert response.json()["type"].endswith("upstream-bad-response")


async def test_openapi_marks_the_lenient_fields_optional() -> None:
    """The OpenAPI schema requires only what every answer has."""
    async with running_app(make_settings(provider="sample")) as client:
        schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert set(schemas["CurrentWeather"]["required"]) == {"coord", "weather", "main", "name"}
    assert schemas["MainReadings"]["required"] == ["temp"]
    assert "required" not in schemas["Sys"]
    assert "required" not in schemas["Wind"]
