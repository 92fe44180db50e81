"""OpenWeatherMap and Open-Meteo describe the same weather for the same city.

The two stubs write their answers from the synthetic world with their own tables, so reading
Open-Meteo's WMO code with the Open-Meteo provider's table must give the condition the
OpenWeatherMap stub sends: a wrong row in either table fails here.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from weather_api.providers.wmo import owm_condition

CITIES = [("London", "GB"), ("Tokyo", "JP"), ("Sydney", "AU"), ("Toronto", "CA"), ("Oslo", "NO")]
CURRENT = (
    "temperature_2m,relative_humidity_2m,apparent_temperature,weather_code,cloud_cover,"
    "pressure_msl,surface_pressure,wind_speed_10m,wind_direction_10m,wind_gusts_10m,is_day"
)
# OpenWeatherMap units -> the Open-Meteo units that should give the very same numbers.
UNITS = {
    "metric": ("celsius", "ms"),
    "imperial": ("fahrenheit", "mph"),
}


async def both(
    client: httpx.AsyncClient, city: str, country: str, units: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """OpenWeatherMap's answer, and Open-Meteo's for the place its geocoder returns."""
    owm = (
        await client.get(
            "/data/2.5/weather",
            params={"q": f"{city},{country}", "appid": "k", "units": units},
        )
    ).json()
    search = (
        await client.get("/v1/search", params={"name": city, "countryCode": country, "count": 1})
    ).json()
    (place,) = search["results"]
    temperature_unit, wind_speed_unit = UNITS.get(units, ("celsius", "ms"))
    meteo = (
        await client.get(
            "/v1/forecast",
            params={
                "latitude": place["latitude"],
                "longitude": place["longitude"],
                "current": CURRENT,
                "daily": "sunrise,sunset,temperature_2m_max,temperature_2m_min",
                "timezone": "auto",
                "timeformat": "unixtime",
                "forecast_days": 1,
                "temperature_unit": temperature_unit,
                "wind_speed_unit": wind_speed_unit,
            },
        )
    ).json()
    return owm, meteo


@pytest.mark.parametrize(("city", "country"), CITIES)
@pytest.mark.parametrize("units", ["metric", "imperial"])
async def test_same_numbers_in_matching_units(
    client: httpx.AsyncClient, city: str, country: str, units: str
) -> None:
    """Asked in matching units, both APIs give identical numbers for one city."""
    owm, meteo = await both(client, city, country, units)
    current, daily = meteo["current"], meteo["daily"]
    assert (owm["coord"]["lat"], owm["coord"]["lon"]) == (meteo["latitude"], meteo["longitude"])
    assert owm["main"]["temp"] == current["temperature_2m"]
    assert owm["main"]["feels_like"] == current["apparent_temperature"]
    assert owm["main"]["temp_min"] == daily["temperature_2m_min"][0]
    assert owm["main"]["temp_max"] == daily["temperature_2m_max"][0]
    assert owm["main"]["humidity"] == current["relative_humidity_2m"]
    assert owm["main"]["pressure"] == owm["main"]["sea_level"] == current["pressure_msl"]
    assert owm["main"]["grnd_level"] == current["surface_pressure"]
    assert owm["wind"]["speed"] == current["wind_speed_10m"]
    assert owm["wind"]["gust"] == current["wind_gusts_10m"]
    assert owm["wind"]["deg"] == current["wind_direction_10m"]
    assert owm["clouds"]["all"] == current["cloud_cover"]
    assert owm["weather"] == [
        owm_condition(current["weather_code"], is_day=bool(current["is_day"]))
    ]
    assert owm["timezone"] == meteo["utc_offset_seconds"]
    assert owm["sys"]["sunrise"] == daily["sunrise"][0]
    assert owm["sys"]["sunset"] == daily["sunset"][0]


@pytest.mark.parametrize(("city", "country"), CITIES)
async def test_standard_units_are_kelvin_of_the_same_weather(
    client: httpx.AsyncClient, city: str, country: str
) -> None:
    """OpenWeatherMap's Kelvin is Open-Meteo's Celsius plus 273.15; m/s are equal."""
    owm, meteo = await both(client, city, country, "standard")
    current = meteo["current"]
    assert owm["main"]["temp"] == pytest.approx(current["temperature_2m"] + 273.15, abs=1e-9)
    assert owm["main"]["feels_like"] == pytest.approx(
        current["apparent_temperature"] + 273.15, abs=1e-9
    )
    assert owm["wind"]["speed"] == current["wind_speed_10m"]


@pytest.mark.parametrize(("city", "country"), CITIES)
async def test_converting_either_side_agrees(
    client: httpx.AsyncClient, city: str, country: str
) -> None:
    """Metric values converted to imperial by hand match imperial from either API."""
    metric, meteo_metric = await both(client, city, country, "metric")
    imperial, meteo_imperial = await both(client, city, country, "imperial")
    celsius = meteo_metric["current"]["temperature_2m"]
    assert metric["main"]["temp"] == celsius
    assert imperial["main"]["temp"] == pytest.approx(celsius * 9 / 5 + 32, abs=0.005)
    metres_per_second = meteo_metric["current"]["wind_speed_10m"]
    assert meteo_imperial["current"]["wind_speed_10m"] == pytest.approx(
        metres_per_second / 0.44704, abs=0.005
    )
