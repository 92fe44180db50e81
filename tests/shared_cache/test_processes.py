"""Real service processes sharing one Redis and one stub upstream."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from tests.conftest import free_port
from tests.processes import weather_api_process
from tests.shared_cache.conftest import RedisServer
from weather_api.locations import WeatherQuery, parse_location
from weather_api.service import SHARED_KEY_PREFIX, shared_key
from weather_api.stub import StubServer

pytestmark = pytest.mark.slow

KEY_ENV = {"WEATHER_API_OPENWEATHERMAP_API_KEY": "test-key"}
CITIES = [
    ("london", "gb"),
    ("paris", "fr"),
    ("berlin", "de"),
    ("madrid", "es"),
    ("rome", "it"),
    ("oslo", "no"),
    ("vienna", "at"),
    ("lisbon", "pt"),
    ("dublin", "ie"),
    ("prague", "cz"),
]


@contextmanager
def services(
    stub: StubServer, redis: RedisServer, *extra: str, count: int = 2
) -> Iterator[list[str]]:
    """`count` service processes on their own ports, sharing `redis` and `stub`; their URLs."""
    with ExitStack() as stack:
        urls = []
        for _ in range(count):
            port = free_port()
            args = [
                "serve",
                "--port",
                str(port),
                "--provider",
                "openweathermap",
                "--upstream-url",
                stub.url,
                "--cache-url",
                redis.url,
                "--log-level",
                "warning",
                *extra,
            ]
            stack.enter_context(weather_api_process(*args, env=KEY_ENV, port=port))
            urls.append(f"http://127.0.0.1:{port}")
        yield urls


async def metric(client: httpx.AsyncClient, url: str, name: str, **labels: str) -> float:
    """One sample of the service's /metrics at `url`."""
    text = (await client.get(f"{url}/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"{name} {labels} not in the metrics of {url}")


async def test_a_location_fetched_through_one_process_is_a_hit_in_the_other(
    stub: StubServer, redis_server: RedisServer
) -> None:
    """Process A fetches London; B answers it from Redis; 200 cold requests over both: 1 call."""
    stub.config.latency_ms = 50
    with services(stub, redis_server) as (a, b):
        async with httpx.AsyncClient(timeout=10) as client:
            first = await client.get(f"{a}/london/gb/")
            second = await client.get(f"{b}/london/gb/")
            assert (first.status_code, first.headers["x-cache"]) == (200, "miss")
            assert (second.status_code, second.headers["x-cache"]) == (200, "hit")
            assert second.content == first.content
            assert int(second.headers["age"]) + int(
                second.headers["cache-control"].removeprefix("max-age=")
            ) in (599, 600)
            assert stub.stats.requests_total == 1

            burst = await asyncio.gather(
                *(client.get(f"{(a, b)[i % 2]}/paris/fr/") for i in range(200))
            )
            assert {r.status_code for r in burst} == {200}
            assert stub.stats.requests_total == 2
            waits = [
                await metric(client, url, "weather_api_shared_cache_events_total", event="waits")
                for url in (a, b)
            ]
            assert sum(waits) <= 1  # 1 unless one process asked after the other had stored


async def test_a_lock_left_by_a_dead_holder_delays_but_does_not_block(
    stub: StubServer, redis_server: RedisServer
) -> None:
    """A lock nobody will release (its holder died): the request fetches once it expires."""
    query = WeatherQuery(parse_location("oslo", "no"))
    lock = f"{SHARED_KEY_PREFIX}{shared_key(('openweathermap', *query.cache_key()))}:lock"
    with services(stub, redis_server, "--cache-wait-timeout", "5", count=1) as (a,):
        raw = Redis.from_url(redis_server.url)
        try:
            await raw.set(lock, b"died-mid-fetch", px=1000)
            async with httpx.AsyncClient(timeout=10) as client:
                started = time.monotonic()
                response = await client.get(f"{a}/oslo/no/")
                waited = time.monotonic() - started
            assert (response.status_code, response.headers["x-cache"]) == (200, "miss")
            assert 0.8 < waited < 4
            assert stub.stats.requests_total == 1
            assert await raw.exists(lock) == 0
        finally:
            await raw.aclose()


async def until(check: Callable[[], Awaitable[bool]], *, within: float) -> bool:
    """Poll `check` every 0.1 s until it holds or `within` seconds pass; whether it held."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def test_redis_killed_and_restarted_mid_run_fails_no_request(
    stub: StubServer, redis_server: RedisServer
) -> None:
    """Under load, Redis dies and comes back: every answer is 200, /readyz stays 200, the
    degraded gauge goes up and down again, and the processes use Redis again."""
    stub.config.latency_ms = 20
    # A one-second TTL keeps the in-process tier missing, so Redis is asked all through the run.
    extra = ("--cache-ttl", "1", "--cache-redis-backoff", "0.3")
    with services(stub, redis_server, *extra) as urls:
        statuses: list[int] = []
        rng = random.Random(8)  # noqa: S311 - which city to ask next is no secret
        stop = asyncio.Event()
        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:

            async def user() -> None:
                while not stop.is_set():
                    city, country = rng.choice(CITIES)
                    response = await client.get(f"{rng.choice(urls)}/{city}/{country}/")
                    statuses.append(response.status_code)

            async def gauges() -> list[float]:
                return [
                    await metric(client, url, "weather_api_shared_cache_degraded") for url in urls
                ]

            async def hits() -> float:
                counts = [
                    await metric(client, url, "weather_api_shared_cache_events_total", event="hits")
                    for url in urls
                ]
                return sum(counts)

            load = [asyncio.create_task(user()) for _ in range(20)]
            try:
                await asyncio.sleep(1.0)
                redis_server.kill()
                down = await until(lambda: _equal(gauges(), [1, 1]), within=10)
                ready = [(await client.get(f"{url}/readyz")).status_code for url in urls]
                errors = [
                    await metric(client, url, "weather_api_shared_cache_errors_total")
                    for url in urls
                ]
                await asyncio.sleep(0.5)  # more requests while Redis is gone
                redis_server.start()
                hits_before = await hits()
                back = await until(lambda: _equal(gauges(), [0, 0]), within=10)
                used_again = await until(lambda: _more(hits(), hits_before), within=10)
            finally:
                stop.set()
                await asyncio.gather(*load)
    assert set(statuses) == {200}
    assert len(statuses) > 100
    assert down
    assert ready == [200, 200]
    assert all(e >= 1 for e in errors)
    assert back
    assert used_again


async def _equal(value: Awaitable[list[float]], expected: list[float]) -> bool:
    return await value == expected


async def _more(value: Awaitable[float], than: float) -> bool:
    return await value > than
