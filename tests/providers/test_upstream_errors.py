"""Every upstream failure maps to its documented problem; retries stay inside the deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
import respx

from tests.bodies import owm_london
from tests.conftest import API_KEY, make_settings, running_app
from weather_api.providers.aiohttp_transport import ResponseTooLarge

WEATHER = "/data/2.5/weather"


async def get_london(owm: respx.Router, **settings: object) -> httpx.Response:
    response, _ = await timed_london(owm, **settings)
    return response


async def timed_london(owm: respx.Router, **settings: object) -> tuple[httpx.Response, float]:
    """The answer for /london/gb/, and how long the request took (the app's start-up apart)."""
    async with running_app(
        make_settings(provider="openweathermap", **settings), upstream=owm
    ) as client:
        started = time.monotonic()
        response = await client.get("/london/gb/")
        return response, time.monotonic() - started


@pytest.mark.parametrize(
    ("upstream", "status", "slug"),
    [
        (
            httpx.Response(401, json={"cod": 401, "message": f"Invalid API key {API_KEY}"}),
            502,
            "upstream-auth-failed",
        ),
        (httpx.Response(403, text="forbidden"), 502, "upstream-auth-failed"),
        (httpx.Response(500, text="oops"), 502, "upstream-bad-response"),
        (httpx.Response(503, text="down"), 502, "upstream-bad-response"),
        (httpx.Response(400, json={"cod": "400"}), 502, "upstream-bad-response"),
        (httpx.Response(200, text='{"cod": 200, "main": {'), 502, "upstream-bad-response"),
        (httpx.Response(200, json={"cod": 200, "unexpected": True}), 502, "upstream-bad-response"),
        (httpx.Response(429, headers={"Retry-After": "120"}), 503, "upstream-rate-limited"),
    ],
)
async def test_upstream_answers_map_to_problems(
    owm: respx.Router, upstream: httpx.Response, status: int, slug: str
) -> None:
    """Each upstream answer becomes its documented status; the key is never echoed."""
    owm.get(WEATHER).mock(return_value=upstream)
    response = await get_london(owm)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(slug)
    assert API_KEY not in response.text
    assert API_KEY not in str(response.headers)


async def test_rate_limit_passes_retry_after_on(owm: respx.Router) -> None:
    """A 429 with a long Retry-After is not retried; the client gets 503 and the same wait."""
    route = owm.get(WEATHER).respond(429, headers={"Retry-After": "120"})
    response = await get_london(owm)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "120"
    assert response.json()["retry_after"] == 120
    assert route.call_count == 1


@pytest.mark.timeout(30)
async def test_short_retry_after_is_waited_out_and_retried(owm: respx.Router) -> None:
    """A 429 asking for a 1 s wait is retried after that wait, inside the deadline."""
    route = owm.get(WEATHER).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "1"}),
            httpx.Response(200, json=owm_london()),
        ]
    )
    response, seconds = await timed_london(owm, request_deadline=3.0)
    assert response.status_code == 200
    assert route.call_count == 2
    assert seconds >= 1.0


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(502), httpx.ConnectError("refused"), httpx.ReadTimeout("slow")],
)
async def test_transient_failures_are_retried_once(owm: respx.Router, failure: object) -> None:
    """A 5xx, a failed connection or a timeout is tried again; the second answer wins."""
    route = owm.get(WEATHER).mock(side_effect=[failure, httpx.Response(200, json=owm_london())])
    response = await get_london(owm)
    assert response.status_code == 200
    assert route.call_count == 2


async def test_retries_can_be_switched_off(owm: respx.Router) -> None:
    """retry_attempts=1: one call, and the failure goes straight to the client."""
    route = owm.get(WEATHER).respond(503)
    response = await get_london(owm, retry_attempts=1)
    assert response.status_code == 502
    assert route.call_count == 1


def not_gzip(request: httpx.Request) -> httpx.Response:
    """Says gzip, is not: httpx.DecodingError when the body is read, as our transport raises."""
    return httpx.Response(
        200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(b"not gzip")
    )


def too_large(request: httpx.Request) -> httpx.Response:
    """What the transport raises for a body past its cap (test_aiohttp_transport.py shows when)."""
    raise ResponseTooLarge("the upstream's body is larger than 1048576 bytes", request=request)


@pytest.mark.parametrize(
    ("answer", "slug"),
    [
        pytest.param(httpx.Response(401), "upstream-auth-failed", id="401"),
        pytest.param(
            httpx.Response(200, text='{"cod": 200, "main": {'),
            "upstream-bad-response",
            id="malformed 200",
        ),
        pytest.param(not_gzip, "upstream-bad-response", id="undecodable body"),
        pytest.param(too_large, "upstream-bad-response", id="body too large"),
    ],
)
async def test_permanent_failures_are_not_retried(
    owm: respx.Router, answer: httpx.Response | Callable[[httpx.Request], httpx.Response], slug: str
) -> None:
    """A refused key, a body we cannot read, decode or hold: 502 after one call, not three."""
    route = owm.get(WEATHER)
    if callable(answer):
        route.mock(side_effect=answer)
    else:
        route.mock(return_value=answer)
    response = await get_london(owm, retry_attempts=3)
    assert response.status_code == 502
    assert response.json()["type"].endswith(slug)
    assert route.call_count == 1


async def test_unreachable_upstream_says_how_to_run_offline(owm: respx.Router) -> None:
    """A refused connection is a 502 saying the upstream is unreachable and how to run offline."""
    owm.get(WEATHER).mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    response = await get_london(owm)
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert "unreachable" in detail
    assert "--provider sample" in detail


async def test_timeout_is_504(owm: respx.Router) -> None:
    """An upstream timeout on every attempt is a 504."""
    owm.get(WEATHER).mock(side_effect=httpx.ReadTimeout("timed out"))
    response = await get_london(owm)
    assert response.status_code == 504
    assert response.json()["title"] == "Weather upstream timed out"


@pytest.mark.timeout(30)
async def test_a_hung_upstream_is_cut_at_the_deadline(owm: respx.Router) -> None:
    """An upstream that never answers costs the client the deadline, not more: 504."""

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json=owm_london())  # pragma: no cover

    owm.get(WEATHER).mock(side_effect=hang)
    response, seconds = await timed_london(owm, request_deadline=0.5)
    assert response.status_code == 504
    assert seconds < 0.5 + 0.5


@pytest.mark.timeout(30)
async def test_retries_never_outlast_the_deadline(owm: respx.Router) -> None:
    """Slow failures with many attempts allowed still end within the deadline (retry budget)."""

    async def slow_failure(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.3)
        return httpx.Response(503)

    route = owm.get(WEATHER).mock(side_effect=slow_failure)
    response, elapsed = await timed_london(owm, request_deadline=1.0, retry_attempts=5)
    assert response.status_code in (502, 504)
    assert elapsed < 1.0 + 0.5
    assert 2 <= route.call_count < 5
