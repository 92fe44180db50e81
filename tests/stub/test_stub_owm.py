"""The fake OpenWeatherMap current weather endpoint."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from weather_api.stub.owm import CONDITIONS
from weather_api.synthetic import WEATHER_CODES, conditions_at, geocode

WEATHER = "/data/2.5/weather"


async def owm(client: httpx.AsyncClient, **params: str) -> httpx.Response:
    return await client.get(WEATHER, params={"appid": "key", **params})


async def test_shape_matches_openweathermap(client: httpx.AsyncClient) -> None:
    """A known city gets OpenWeatherMap's exact current weather shape, `cod` an int."""
    response = await owm(client, q="London,GB", units="metric", lang="en")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == [
        "coord",
        "weather",
        "base",
        "main",
        "visibility",
        "wind",
        "clouds",
        "dt",
        "sys",
        "timezone",
        "id",
        "name",
        "cod",
    ]
    assert set(body["coord"]) == {"lon", "lat"}
    assert [set(w) for w in body["weather"]] == [{"id", "main", "description", "icon"}]
    assert body["base"] == "stations"
    assert set(body["main"]) == {
        "temp",
        "feels_like",
        "temp_min",
        "temp_max",
        "pressure",
        "humidity",
        "sea_level",
        "grnd_level",
    }
    assert set(body["wind"]) == {"speed", "deg", "gust"}
    assert set(body["clouds"]) == {"all"}
    assert set(body["sys"]) == {"type", "id", "country", "sunrise", "sunset"}
    assert body["sys"]["type"] == 2
    assert body["sys"]["country"] == "GB"
    assert body["name"] == "London"
    assert body["cod"] == 200
    assert abs(body["dt"] - time.time()) < 5
    assert body["sys"]["sunrise"] < body["sys"]["sunset"]


async def test_same_city_same_numbers(client: httpx.AsyncClient) -> None:
    """Two requests for one city agree on everything but the observation time."""
    first = (await owm(client, q="Berlin,DE")).json()
    second = (await owm(client, q="berlin, de")).json()
    first.pop("dt")
    second.pop("dt")
    assert first == second


async def test_units(client: httpx.AsyncClient) -> None:
    """standard is Kelvin and m/s, metric Celsius and m/s, imperial Fahrenheit and mph."""
    place = geocode("Madrid", "ES")
    assert place is not None
    weather = conditions_at(place.latitude, place.longitude)
    c = weather.temperature_c
    expected = {
        "standard": (round(c + 273.15, 2), weather.wind_speed_ms),
        "metric": (c, weather.wind_speed_ms),
        "imperial": (round(c * 1.8 + 32, 2), round(weather.wind_speed_ms / 0.44704, 2)),
        "": (round(c + 273.15, 2), weather.wind_speed_ms),
        "bogus": (round(c + 273.15, 2), weather.wind_speed_ms),
    }
    for units, (temp, speed) in expected.items():
        body = (await owm(client, q="Madrid,ES", units=units)).json()
        assert (body["main"]["temp"], body["wind"]["speed"]) == (temp, speed), units
        assert body["main"]["humidity"] == weather.relative_humidity
        assert body["main"]["pressure"] == weather.pressure_msl


async def test_condition_matches_the_wmo_code(client: httpx.AsyncClient) -> None:
    """The weather condition is the stub's OpenWeatherMap row for the world's WMO code."""
    for city in ("Oslo", "Lagos", "Lima", "Perth", "Osaka", "Quito", "Tromso", "Dakar"):
        body = (await owm(client, q=city)).json()
        weather = conditions_at(body["coord"]["lat"], body["coord"]["lon"])
        condition_id, group, description, icon = CONDITIONS[weather.weather_code]
        (condition,) = body["weather"]
        assert (condition["id"], condition["main"], condition["description"]) == (
            condition_id,
            group,
            description,
        )
        day = body["sys"]["sunrise"] <= body["dt"] < body["sys"]["sunset"]
        assert condition["icon"] == icon + ("d" if day else "n")


def test_every_weather_of_the_world_has_an_openweathermap_condition() -> None:
    """The stub can say in OpenWeatherMap's terms every weather the world can show."""
    assert set(CONDITIONS) == set(WEATHER_CODES)


async def test_city_without_country(client: httpx.AsyncClient) -> None:
    """`q=City` works, and `q=City,State,CC` uses the last part as the country."""
    body = (await owm(client, q="Springfield")).json()
    assert body["cod"] == 200
    three_parts = (await owm(client, q="Springfield,Illinois,US")).json()
    assert three_parts["sys"]["country"] == "US"
    assert three_parts["id"] == (await owm(client, q="Springfield,US")).json()["id"]


@pytest.mark.parametrize("params", [{}, {"appid": ""}])
async def test_missing_key_is_401(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    """No `appid`, or an empty one, is OpenWeatherMap's 401 with an int `cod`."""
    response = await client.get(WEATHER, params={"q": "London,GB", **params})
    assert response.status_code == 401
    assert response.json() == {
        "cod": 401,
        "message": "Invalid API key. Please see https://openweathermap.org/faq#error401 "
        "for more info.",
    }


@pytest.mark.parametrize("q", ["Nowhere", "nowhereville,GB", "NOWHERE CITY,US", "London,GBR"])
async def test_unknown_city_is_404(client: httpx.AsyncClient, q: str) -> None:
    """Unknown places are 404 with `cod` as a string, as OpenWeatherMap sends it."""
    response = await owm(client, q=q)
    assert response.status_code == 404
    assert response.json() == {"cod": "404", "message": "city not found"}


@pytest.mark.parametrize("params", [{"q": ""}, {"q": ",GB"}, {}, {"lat": "1"}])
async def test_nothing_to_geocode_is_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    """An empty city, or neither `q` nor `lat` and `lon`, is 400 "Nothing to geocode"."""
    response = await owm(client, **params)
    assert response.status_code == 400
    assert response.json() == {"cod": "400", "message": "Nothing to geocode"}


async def test_by_coordinates(client: httpx.AsyncClient) -> None:
    """`lat` and `lon` give the weather of that grid point, with no city name."""
    by_city = (await owm(client, q="Rome,IT")).json()
    coord = by_city["coord"]
    by_coord = (await owm(client, lat=str(coord["lat"]), lon=str(coord["lon"]))).json()
    assert by_coord["main"] == by_city["main"]
    assert (by_coord["name"], by_coord["id"], by_coord["sys"]["country"]) == ("", 0, "")


@pytest.mark.parametrize(("lat", "lon"), [("91", "0"), ("0", "-181"), ("x", "0")])
async def test_bad_coordinates_are_400(client: httpx.AsyncClient, lat: str, lon: str) -> None:
    """Coordinates that are not numbers or out of range are 400."""
    response = await owm(client, lat=lat, lon=lon)
    assert response.status_code == 400
    body: dict[str, Any] = response.json()
    assert body["cod"] == "400"
