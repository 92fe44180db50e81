"""Open-Meteo's geocoding + forecast answers mapped into OpenWeatherMap's shape."""

from __future__ import annotations

import httpx
import pytest
import respx

from tests.bodies import OPENMETEO_LONDON_PLACE, OPENMETEO_NO_RESULTS, openmeteo_forecast
from tests.conftest import FORECAST_URL, GEOCODING_URL, make_settings, running_app


def mock_openmeteo(
    router: respx.Router, *, place: object = OPENMETEO_LONDON_PLACE, forecast: object = None
) -> tuple[respx.Route, respx.Route]:
    search = router.get(f"{GEOCODING_URL}/v1/search").respond(json=place)
    weather = router.get(f"{FORECAST_URL}/v1/forecast").respond(
        json=forecast if forecast is not None else openmeteo_forecast()
    )
    return search, weather


async def get(router: respx.Router, path: str, **params: str) -> httpx.Response:
    async with running_app(make_settings(), upstream=router) as client:
        return await client.get(path, params=params)


async def test_maps_forecast_to_owm_shape_in_kelvin(openmeteo: respx.Router) -> None:
    """Default units are Kelvin: Open-Meteo's Celsius plus 273.15; place data from geocoding."""
    search, forecast = mock_openmeteo(openmeteo)
    response = await get(openmeteo, "/london/uk/")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "London"
    assert body["id"] == 2643743
    assert body["coord"] == {"lon": -0.12574, "lat": 51.50853}
    assert body["main"]["temp"] == pytest.approx(284.25)
    assert body["main"]["temp_min"] == pytest.approx(281.05)
    assert body["main"]["temp_max"] == pytest.approx(285.55)
    assert body["main"]["pressure"] == 1012
    assert body["main"]["humidity"] == 73
    assert body["wind"] == {"speed": 4.6, "deg": 250, "gust": 9.8}
    assert body["clouds"] == {"all": 100}
    assert body["sys"] == {"country": "GB", "sunrise": 1732779436, "sunset": 1732809390}
    assert body["weather"] == [
        {"id": 804, "main": "Clouds", "description": "overcast clouds", "icon": "04d"}
    ]
    assert search.calls.last.request.url.params["countryCode"] == "GB"
    sent = forecast.calls.last.request.url.params
    assert (sent["latitude"], sent["longitude"]) == ("51.50853", "-0.12574")
    assert sent["temperature_unit"] == "celsius"
    assert sent["timeformat"] == "unixtime"


@pytest.mark.parametrize(
    ("units", "temperature_unit", "wind_unit", "temp"),
    [("metric", "celsius", "ms", 11.1), ("imperial", "fahrenheit", "mph", 11.1)],
)
async def test_units_are_asked_of_open_meteo(
    openmeteo: respx.Router, units: str, temperature_unit: str, wind_unit: str, temp: float
) -> None:
    """metric and imperial ask Open-Meteo for that unit and pass the value through unchanged."""
    body = openmeteo_forecast()
    body["current_units"]["temperature_2m"] = "°F" if units == "imperial" else "°C"
    _, forecast = mock_openmeteo(openmeteo, forecast=body)
    response = await get(openmeteo, "/london/gb/", units=units)
    assert response.json()["main"]["temp"] == temp
    sent = forecast.calls.last.request.url.params
    assert (sent["temperature_unit"], sent["wind_speed_unit"]) == (temperature_unit, wind_unit)


async def test_no_results_is_404(openmeteo: respx.Router) -> None:
    """Open-Meteo leaves out `results` for an unknown place: that is a 404, and no forecast call."""
    _, forecast = mock_openmeteo(openmeteo, place=OPENMETEO_NO_RESULTS)
    response = await get(openmeteo, "/atlantis/gr/")
    assert response.status_code == 404
    assert not forecast.called


async def test_unknown_place_is_remembered_briefly(openmeteo: respx.Router) -> None:
    """A second request for an unknown place within the negative TTL asks no upstream."""
    search, _ = mock_openmeteo(openmeteo, place=OPENMETEO_NO_RESULTS)
    async with running_app(make_settings(), upstream=openmeteo) as client:
        first = await client.get("/atlantis/gr/")
        second = await client.get("/Atlantis/GR/")
    assert first.status_code == second.status_code == 404
    assert search.call_count == 1


@pytest.mark.parametrize(
    ("place", "forecast"),
    [
        ({"results": [{"name": "London"}]}, None),
        (OPENMETEO_LONDON_PLACE, {"current": {}}),
        (OPENMETEO_LONDON_PLACE, {"latitude": 1}),
    ],
)
async def test_unreadable_answers_are_502(
    openmeteo: respx.Router, place: object, forecast: object
) -> None:
    """A place without coordinates or a forecast without readings is a bad upstream response."""
    mock_openmeteo(openmeteo, place=place, forecast=forecast)
    response = await get(openmeteo, "/london/gb/")
    assert response.status_code == 502
    assert response.json()["type"].endswith("upstream-bad-response")


@pytest.mark.parametrize(
    ("code", "is_day", "expected"),
    [
        (0, 1, (800, "Clear", "01d")),
        (0, 0, (800, "Clear", "01n")),
        (63, 1, (501, "Rain", "10d")),
        (75, 1, (602, "Snow", "13d")),
        (95, 0, (211, "Thunderstorm", "11n")),
        (42, 1, (804, "Clouds", "04d")),
    ],
)
async def test_wmo_codes_become_owm_conditions(
    openmeteo: respx.Router, code: int, is_day: int, expected: tuple[int, str, str]
) -> None:
    """WMO weather codes map to OWM condition id, group and a day/night icon."""
    mock_openmeteo(openmeteo, forecast=openmeteo_forecast(code=code, is_day=is_day))
    condition = (await get(openmeteo, "/london/gb/")).json()["weather"][0]
    assert (condition["id"], condition["main"], condition["icon"]) == expected
    if code == 42:
        assert "unknown" in condition["description"]


@pytest.mark.parametrize("call", ["geocoding", "forecast"])
async def test_an_error_body_is_502_on_either_call(openmeteo: respx.Router, call: str) -> None:
    """`{"error": true, "reason": ...}` with a 200 is an upstream failure, not "no such city"."""
    error = {"error": True, "reason": "Parameter 'name' is required"}
    mock_openmeteo(
        openmeteo,
        place=error if call == "geocoding" else OPENMETEO_LONDON_PLACE,
        forecast=error if call == "forecast" else None,
    )
    response = await get(openmeteo, "/london/gb/")
    assert response.status_code == 502
    assert response.json()["type"].endswith("upstream-bad-response")
    assert "Parameter" not in response.text  # the upstream's words are not passed on


@pytest.mark.parametrize(
    ("units", "labels"),
    [
        ("metric", {"temperature_2m": "°F"}),
        ("imperial", {"temperature_2m": "°C"}),
        ("metric", {"temperature_2m": "°C", "wind_speed_10m": "km/h"}),
    ],
)
async def test_readings_in_other_units_than_asked_are_refused(
    openmeteo: respx.Router, units: str, labels: dict[str, str]
) -> None:
    """A forecast whose current_units disagree with what we asked for: 502, not mislabelled."""
    body = openmeteo_forecast()
    body["current_units"] = {"time": "unixtime", **labels}
    mock_openmeteo(openmeteo, forecast=body)
    response = await get(openmeteo, "/london/gb/", units=units)
    assert response.status_code == 502


async def test_missing_or_null_readings_are_left_out(openmeteo: respx.Router) -> None:
    """Only the temperature and weather code are needed; nulls and gaps are omitted."""
    body = openmeteo_forecast()
    for name in ("apparent_temperature", "pressure_msl", "wind_gusts_10m"):
        body["current"][name] = None
    del body["current"]["cloud_cover"]
    del body["daily"]
    mock_openmeteo(openmeteo, forecast=body)
    response = await get(openmeteo, "/london/gb/", units="metric")
    assert response.status_code == 200
    answer = response.json()
    assert answer["main"] == {"temp": 11.1, "humidity": 73}
    assert answer["wind"] == {"speed": 4.6, "deg": 250}
    assert "clouds" not in answer
    assert answer["sys"] == {"country": "GB"}


async def test_an_infinite_reading_is_a_bad_response_not_a_crash(openmeteo: respx.Router) -> None:
    """`"pressure_msl": Infinity` (JSON that Python reads) is a 502, not a 500."""
    mock_openmeteo(openmeteo)
    body = openmeteo_forecast()
    body["current"]["pressure_msl"] = 1000.0
    text = httpx.Response(200, json=body).text.replace("1000.0", "Infinity")
    openmeteo.get(f"{FORECAST_URL}/v1/forecast").respond(
        content=text.encode(), headers={"content-type": "application/json"}
    )
    response = await get(openmeteo, "/london/gb/")
    assert response.status_code == 502
    assert response.json()["type"].endswith("upstream-bad-response")
