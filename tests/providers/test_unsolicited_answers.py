"""Answers nobody asked for, in the same packet or later: never served as another request's answer.

On real sockets against the stub (`trailing_response_rate`, `unsolicited_response_delay_ms`):
the adapter never reuses a pooled connection that holds bytes past its last answer (aiohttp's
`TCPConnector.connect`, public, and `ResponseHandler.should_close`, internal: these tests are the
contract that names them); the providers refuse an answer about another question (respx here, as
parsing is theirs), counted in `weather_api_upstream_mismatches_total`.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from tests.conftest import (
    FORECAST_URL,
    GEOCODING_URL,
    make_settings,
    running_app,
    scrape,
)
from tests.providers.test_aiohttp_transport import send, transport
from weather_api.stub import StubServer

CITIES = ["London", "Manchester", "Leeds", "Bristol", "Glasgow", "Cardiff", "Belfast", "York"]
MISMATCHES = "weather_api_upstream_mismatches_total"


def weather_url(stub: StubServer, city: str) -> str:
    return f"{stub.url}/data/2.5/weather?q={city},GB&appid=k"


@pytest.mark.parametrize("delay_ms", [0, 30, 150])
async def test_an_answer_that_arrives_while_the_connection_is_idle_is_never_read(
    stub: StubServer, delay_ms: float
) -> None:
    """Each answer trails an unasked one, at once or later: the next request still reads its own.

    The unasked-for answer sits on the pooled connection when the next request wants it; that
    connection is closed, not reused: one connection per request.
    """
    stub.config.update({"trailing_response_rate": 1.0, "unsolicited_response_delay_ms": delay_ms})
    async with transport() as client:
        for city in CITIES[:4]:
            response = await send(client, weather_url(stub, city))
            assert response.json()["name"] == city
            await asyncio.sleep(delay_ms / 1000 + 0.1)  # the extra answer is on the idle socket
    stats = stub.stats.snapshot()
    assert stats["connections_total"] == 4
    if delay_ms:
        assert stats["unsolicited_sent"] >= 3  # they did arrive, on connections still open


async def test_a_clean_connection_is_still_reused(stub: StubServer) -> None:
    """Without unasked-for answers, the check costs no connection: four requests, one socket."""
    async with transport() as client:
        for city in CITIES[:4]:
            assert (await send(client, weather_url(stub, city))).json()["name"] == city
            await asyncio.sleep(0.05)
    assert stub.stats.snapshot()["connections_total"] == 1


@pytest.mark.parametrize("delay_ms", [0, 2, 20, 80])
async def test_owm_app_answers_each_city_its_own_or_refuses_and_caches_nothing_wrong(
    stub: StubServer, delay_ms: float
) -> None:
    """The whole app on openweathermap, every answer trailed by another: own city or a 502.

    Sequential and concurrent requests, at delays that land the extra answer in the same write,
    between requests and during them. A second round is served from the cache: own cities only.
    """
    stub.config.update({"trailing_response_rate": 1.0, "unsolicited_response_delay_ms": delay_ms})
    settings = make_settings(provider="openweathermap", upstream_url=stub.url, retry_attempts=2)
    async with running_app(settings) as client:
        before = await scrape(client)
        answers = []
        for city in CITIES:
            answers.append((city, await client.get(f"/{city}/gb/")))
            await asyncio.sleep(delay_ms / 2000)
        more = [f"{city}ton" for city in CITIES]  # synthetic places, all in GB
        answers += zip(
            more, await asyncio.gather(*(client.get(f"/{city}/gb/") for city in more)), strict=True
        )
        after = await scrape(client)
        cached = [(city, await client.get(f"/{city}/gb/")) for city, _ in answers]
    refused = 0
    for city, response in answers:
        if response.status_code == 502:
            assert response.json()["type"] == "/problems/upstream-bad-response"
            refused += 1
            continue
        assert response.status_code == 200, response.text
        assert response.json()["name"] == city
    for city, response in cached:
        if response.status_code == 200:
            assert response.json()["name"] == city
    assert sum(response.headers.get("x-cache") == "hit" for _, response in cached) >= (
        len(answers) - refused
    )
    # Every refusal is a mismatch the providers caught, and counted.
    assert after.since(before, MISMATCHES, provider="openweathermap") >= refused
    if delay_ms:
        assert stub.stats.snapshot()["unsolicited_sent"] > 0


PYONGYANG = {
    "id": 1871859,
    "coord": {"lon": 125.75, "lat": 39.03},
    "weather": [{"id": 800, "main": "Clear", "description": "clear", "icon": "01d"}],
    "main": {"temp": 270.0},
    "sys": {"country": "KP"},
    "name": "Pyongyang",
}
"""OpenWeatherMap's answer about Pyongyang: another request's, to whoever did not ask for it."""


async def test_owm_answer_for_another_country_is_a_counted_502(owm: respx.Router) -> None:
    """OpenWeatherMap answering about a city in another country: 502, counted, tried again."""
    route = owm.get("/data/2.5/weather").mock(return_value=httpx.Response(200, json=PYONGYANG))
    settings = make_settings(provider="openweathermap", retry_attempts=2)
    async with running_app(settings, upstream=owm) as client:
        before = await scrape(client)
        response = await client.get("/paris/fr/")
        after = await scrape(client)
        again = await client.get("/paris/fr/")
    assert response.status_code == 502
    assert response.json()["type"] == "/problems/upstream-bad-response"
    assert "Pyongyang" not in response.text
    assert route.call_count == 4  # two attempts each, and the first refusal was not cached
    assert again.status_code == 502
    assert after.since(before, MISMATCHES, provider="openweathermap") == 2


def _place(country: str) -> dict[str, object]:
    return {"id": 1, "name": "Paris", "latitude": 48.85, "longitude": 2.35, "country_code": country}


def _forecast(latitude: float, longitude: float) -> dict[str, object]:
    return {
        "latitude": latitude,
        "longitude": longitude,
        "utc_offset_seconds": 3600,
        "current": {"time": 1, "temperature_2m": 10.0, "weather_code": 0},
    }


def _places(country: str) -> dict[str, object]:
    return {"results": [_place(country)]}


@pytest.mark.parametrize(
    ("places", "forecast", "mismatched"),
    [
        (_places("FR"), _forecast(48.86, 2.34), False),  # the grid cell's centre: ours
        (_places("FR"), _forecast(48.85, 2.35 - 359.9), False),  # same longitude, written apart
        (_places("KP"), _forecast(39.03, 125.75), True),  # a place in another country
        (_places("FR"), _forecast(39.03, 125.75), True),  # a forecast for another point
        (_places("FR"), _forecast(48.85, 3.5), True),  # a neighbour's cell, 1.15 degrees east
        (_forecast(48.85, 2.35), _forecast(48.85, 2.35), True),  # places answered by a forecast
        (_places("FR"), _places("FR"), True),  # a forecast answered by places
    ],
)
async def test_openmeteo_answers_for_elsewhere_are_counted_502s(
    openmeteo: respx.Router,
    places: dict[str, object],
    forecast: dict[str, object],
    mismatched: bool,
) -> None:
    """Another country, a forecast outside the place's grid cell, or the other endpoint's
    answer (both can share one connection): a counted 502, never a 404 or an answer."""
    openmeteo.get(f"{GEOCODING_URL}/v1/search").mock(return_value=httpx.Response(200, json=places))
    openmeteo.get(f"{FORECAST_URL}/v1/forecast").mock(
        return_value=httpx.Response(200, json=forecast)
    )
    settings = make_settings(provider="openmeteo", retry_attempts=1)
    async with running_app(settings, upstream=openmeteo) as client:
        before = await scrape(client)
        response = await client.get("/paris/fr/")
        after = await scrape(client)
    counted = after.since(before, MISMATCHES, provider="openmeteo")
    if mismatched:
        assert response.status_code == 502, response.text
        assert response.json()["type"] == "/problems/upstream-bad-response"
        assert counted == 1
    else:
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "Paris"
        assert counted == 0


@pytest.mark.parametrize("provider", ["openweathermap", "openmeteo"])
@pytest.mark.parametrize("attempts", [1, 2])
async def test_an_answer_that_arrives_during_the_next_request_is_refused_and_counted(
    stub: StubServer, attempts: int, provider: str
) -> None:
    """The unasked answer lands while the next request waits for its own (latency > delay).

    No HTTP/1.1 client can tell it from the real answer; the providers' checks do (the country;
    Open-Meteo's other endpoint's answer): a 502, or with a second attempt the right answer over
    a connection the real answer did not poison. Never another city, never a 404.
    """
    # The next request goes out at once and waits 300 ms; the unasked answer comes 100 ms in.
    stub.config.update(
        {"trailing_response_rate": 1.0, "unsolicited_response_delay_ms": 100, "latency_ms": 300}
    )
    settings = make_settings(
        provider=provider, upstream_url=stub.url, retry_attempts=attempts, request_deadline=8.0
    )
    async with running_app(settings) as client:
        before = await scrape(client)
        answers = [(city, await client.get(f"/{city}/gb/")) for city in CITIES[:4]]
        after = await scrape(client)
    statuses = [response.status_code for _, response in answers]
    for city, response in answers:
        if response.status_code == 200:
            assert response.json()["name"] == city
        else:
            assert response.status_code == 502, response.text
    assert after.since(before, MISMATCHES, provider=provider) >= 1
    if attempts == 1:
        assert 502 in statuses
    else:
        assert statuses == [200] * 4


async def test_without_keep_alive_no_answer_can_reach_another_request(stub: StubServer) -> None:
    """--max-keepalive-connections 0: the app starts, each GET has its own connection, and an
    unasked answer at any moment finds none of our requests to land on (no mismatch at all)."""
    stub.config.update(
        {"trailing_response_rate": 1.0, "unsolicited_response_delay_ms": 30, "latency_ms": 90}
    )
    settings = make_settings(
        provider="openweathermap",
        upstream_url=stub.url,
        retry_attempts=1,
        max_keepalive_connections=0,
    )
    async with running_app(settings) as client:
        before = await scrape(client)
        answers = [(city, await client.get(f"/{city}/gb/")) for city in CITIES[:4]]
        after = await scrape(client)
    for city, response in answers:
        assert response.status_code == 200, response.text
        assert response.json()["name"] == city
    assert after.since(before, MISMATCHES, provider="openweathermap") == 0
    assert stub.stats.snapshot()["connections_total"] == 4


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"lat": "48.85", "lon": "2.35"}, 502),  # asked for Paris's point, answered for another
        ({"id": "2988507"}, 502),  # asked for Paris's id, answered about another city's
        ({"lat": "39.03", "lon": "125.75"}, 200),  # the point answered for: ours
        ({"q": "Pyongyang"}, 200),  # no country asked: the upstream picks
    ],
)
async def test_owm_answers_about_another_point_or_city_id_are_counted_502s(
    owm: respx.Router, params: dict[str, str], status: int
) -> None:
    """Asked by coordinates or by city id, an answer about elsewhere is refused and counted."""
    owm.get("/data/2.5/weather").mock(return_value=httpx.Response(200, json=PYONGYANG))
    settings = make_settings(provider="openweathermap", retry_attempts=1)
    async with running_app(settings, upstream=owm) as client:
        before = await scrape(client)
        response = await client.get("/data/2.5/weather", params=params)
        after = await scrape(client)
    assert response.status_code == status, response.text
    assert after.since(before, MISMATCHES, provider="openweathermap") == (status == 502)
