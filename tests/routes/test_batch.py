"""`/v1/weather`: many locations, in order, each weather or a problem, fetched concurrently."""

from __future__ import annotations

import asyncio

import httpx
import respx

from tests.bodies import OWM_NOT_FOUND, owm_london
from tests.conftest import make_settings, running_app


def owm_by_city(router: respx.Router, *, delay: float = 0.0) -> dict[str, int]:
    """Answer per city; return live counters of concurrent and peak calls."""
    seen = {"now": 0, "peak": 0}

    async def answer(request: httpx.Request) -> httpx.Response:
        seen["now"] += 1
        seen["peak"] = max(seen["peak"], seen["now"])
        try:
            await asyncio.sleep(delay)
            city = request.url.params["q"].split(",")[0]
            if city == "Atlantis":
                return httpx.Response(404, json=OWM_NOT_FOUND)
            if city == "Broken":
                return httpx.Response(500)
            body = owm_london()
            body["name"] = city
            body["sys"]["country"] = request.url.params["q"].split(",")[-1].upper()
            return httpx.Response(200, json=body)
        finally:
            seen["now"] -= 1

    router.get("/data/2.5/weather").mock(side_effect=answer)
    return seen


async def test_results_in_request_order_with_per_location_problems(owm: respx.Router) -> None:
    """One entry per q, in order; failures are problems in their entry, the rest still succeed."""
    owm_by_city(owm)
    async with running_app(
        make_settings(provider="openweathermap", retry_attempts=1), upstream=owm
    ) as client:
        response = await client.get(
            "/v1/weather",
            params=[
                ("q", "Paris,FR"),
                ("q", "Atlantis,GR"),
                ("q", "bad"),
                ("q", "Broken,DE"),
                ("q", "London,uk"),
            ],
        )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["q"] for r in results] == ["Paris,FR", "Atlantis,GR", "bad", "Broken,DE", "London,uk"]
    assert [r["status"] for r in results] == [200, 404, 422, 502, 200]
    assert results[0]["weather"]["name"] == "Paris"
    assert results[4]["weather"]["name"] == "London"
    assert results[1]["problem"]["title"] == "Location not found"
    assert results[3]["problem"]["type"].endswith("upstream-bad-response")


async def test_locations_are_fetched_concurrently_within_the_bound(owm: respx.Router) -> None:
    """Eight locations with a concurrency of 3 overlap, never more than 3 at once."""
    seen = owm_by_city(owm, delay=0.05)
    cities = ["Paris", "Berlin", "Madrid", "Rome", "Vienna", "Prague", "Lisbon", "Dublin"]
    async with running_app(
        make_settings(provider="openweathermap", batch_concurrency=3), upstream=owm
    ) as client:
        response = await client.get("/v1/weather", params=[("q", f"{c},FR") for c in cities])
    assert response.status_code == 200
    assert seen["peak"] == 3


async def test_too_many_locations_is_422(owm: respx.Router) -> None:
    """More than batch_max_locations is refused as a whole, before any upstream call."""
    seen = owm_by_city(owm)
    async with running_app(
        make_settings(provider="openweathermap", batch_max_locations=2), upstream=owm
    ) as client:
        response = await client.get("/v1/weather", params=[("q", "A,FR")] * 3)
        empty = await client.get("/v1/weather")
    assert response.status_code == 422
    assert "at most 2" in response.json()["detail"]
    assert empty.status_code == 422
    assert seen["peak"] == 0


async def test_batch_shares_the_cache_with_single_requests(owm: respx.Router) -> None:
    """A location fetched by `/{city}/{country}/` is a cache hit inside a batch."""
    owm_by_city(owm)
    route = owm.routes[0]
    async with running_app(make_settings(provider="openweathermap"), upstream=owm) as client:
        await client.get("/paris/fr/")
        await client.get("/v1/weather", params={"q": "Paris,FR"})
    assert route.call_count == 1
