"""The production transport (aiohttp under httpx) against the real stub upstream."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import make_settings, running_app
from weather_api.stub import StubServer

PROVIDERS = ["openweathermap", "openmeteo"]


def stub_settings(stub: StubServer, provider: str, **overrides: object) -> dict[str, object]:
    return {"provider": provider, "upstream_url": stub.url, **overrides}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_both_providers_answer_through_the_stub(stub: StubServer, provider: str) -> None:
    """`--upstream-url` points either provider at the stub, and /london/uk/ is a 200."""
    async with running_app(make_settings(**stub_settings(stub, provider))) as client:
        response = await client.get("/london/uk/")
    assert response.status_code == 200
    assert response.json()["sys"]["country"] == "GB"
    assert response.headers["x-cache"] == "miss"


@pytest.mark.parametrize("units", ["standard", "metric", "imperial"])
async def test_units_agree_across_providers(stub: StubServer, units: str) -> None:
    """The same city in the same units reads the same through OpenWeatherMap and Open-Meteo."""
    readings = []
    for provider in PROVIDERS:
        async with running_app(make_settings(**stub_settings(stub, provider))) as client:
            response = await client.get("/Paris/FR/", params={"units": units})
        assert response.status_code == 200
        readings.append(response.json())
    owm, meteo = readings
    for field in ("temp", "feels_like"):
        assert meteo["main"][field] == pytest.approx(owm["main"][field], abs=0.06)
    assert meteo["wind"]["speed"] == pytest.approx(owm["wind"]["speed"], abs=0.06)
    assert meteo["main"]["humidity"] == owm["main"]["humidity"]
    assert meteo["main"]["pressure"] == owm["main"]["pressure"]
    assert meteo["weather"][0]["id"] == owm["weather"][0]["id"]


async def test_batch_requests_overlap_at_the_upstream(stub: StubServer) -> None:
    """A multi-location request has more than one upstream request in flight at once."""
    stub.config.latency_ms = 50
    cities = ["London,GB", "Paris,FR", "Berlin,DE", "Madrid,ES", "Rome,IT", "Oslo,NO"]
    async with running_app(make_settings(**stub_settings(stub, "openweathermap"))) as client:
        response = await client.get("/v1/weather", params=[("q", c) for c in cities])
    assert [r["status"] for r in response.json()["results"]] == [200] * 6
    assert stub.stats.max_in_flight > 1


@pytest.mark.parametrize(("provider", "calls_per_fill"), [("openweathermap", 1), ("openmeteo", 2)])
async def test_concurrent_cold_requests_make_one_upstream_fill(
    stub: StubServer, provider: str, calls_per_fill: int
) -> None:
    """200 concurrent requests for one uncached city cost one upstream fill."""
    stub.config.latency_ms = 50
    async with running_app(make_settings(**stub_settings(stub, provider))) as client:
        responses = await asyncio.gather(*(client.get("/oslo/no/") for _ in range(200)))
    assert {r.status_code for r in responses} == {200}
    assert stub.stats.requests_total == calls_per_fill


@pytest.mark.parametrize(
    ("fault", "status", "slug"),
    [
        ({"reset_rate": 1.0}, 502, "upstream-unavailable"),
        ({"malformed_rate": 1.0}, 502, "upstream-bad-response"),
        ({"truncate_rate": 1.0}, 502, "upstream-unavailable"),
        ({"error_rate": 1.0, "error_status": 503}, 502, "upstream-bad-response"),
        ({"error_rate": 1.0, "error_status": 429, "retry_after": 30}, 503, "upstream-rate-limited"),
        ({"stall_ms": 5000}, 504, "upstream-timeout"),
    ],
)
async def test_stub_faults_through_the_real_transport(
    stub: StubServer, fault: dict[str, float], status: int, slug: str
) -> None:
    """Resets, bad bodies, 5xx, 429 and stalls map to their problems over real sockets."""
    stub.config.update(fault)
    settings = make_settings(
        **stub_settings(stub, "openweathermap", request_deadline=1.0, cache_ttl=0)
    )
    async with running_app(settings) as client:
        response = await client.get("/london/gb/")
        assert response.status_code == status
        assert response.json()["type"].endswith(slug)
        stub.config.clear()
        assert (await client.get("/london/gb/")).status_code == 200  # healthy once it stops


@pytest.mark.timeout(30)
async def test_stale_weather_is_served_when_the_upstream_fails(stub: StubServer) -> None:
    """After expiry, an upstream failure serves the last good answer marked stale."""
    settings = make_settings(**stub_settings(stub, "openweathermap", cache_ttl=0.2))
    async with running_app(settings) as client:
        fresh = await client.get("/london/gb/")
        stub.config.update({"error_rate": 1.0, "error_status": 500})
        await asyncio.sleep(0.3)
        stale = await client.get("/london/gb/")
    assert stale.status_code == 200
    assert stale.headers["x-cache"] == "stale"
    assert stale.headers["cache-control"] == "max-age=0"
    assert stale.json() == fresh.json()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_max_keepalive_connections_0_opens_a_connection_per_upstream_call(
    stub: StubServer, provider: str
) -> None:
    """`--max-keepalive-connections 0`: every upstream call has its own connection, none reused
    (the stub counts the connections it accepts, as GET /_stub/stats reports them)."""
    cities = ["/london/gb/", "/paris/fr/", "/oslo/no/", "/rome/it/", "/madrid/es/"]
    settings = make_settings(**stub_settings(stub, provider, max_keepalive_connections=0))
    async with running_app(settings) as client:
        for city in cities:
            assert (await client.get(city)).status_code == 200
    stats = stub.stats.snapshot()
    assert stats["requests_total"] == len(cities) * (2 if provider == "openmeteo" else 1)
    assert stats["connections_total"] == stats["requests_total"]
