"""Every upstream fault the stub can inject, against every state the cache can be in.

faults x {cold, warm, stale} x both providers, over real sockets to the stub: each request is
answered within the request deadline plus a margin, with the outcome that docs/operations.md
("Failure modes") documents (a cached or stale 200, else the 502/503/504 problem), never a 500;
once the fault stops, the same requests succeed. `make test` runs it in process with a 2 s deadline;
`make soak` (HOSTILE_SOAK=1) with the production defaults, one real server process per row,
and more locations.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests.conftest import free_port, make_settings, running_app
from tests.processes import weather_api_process
from weather_api.app import create_app
from weather_api.config import Settings
from weather_api.providers.aiohttp_transport import build_transport
from weather_api.stub import StubConfig, StubServer, start_stub

SOAK = os.environ.get("HOSTILE_SOAK") == "1"


@dataclass(frozen=True)
class Profile:
    """How hard the matrix pushes."""

    deadline: float
    margin: float
    ttl: float
    locations: int
    drip_ms: float
    in_process: bool


# Retries and Open-Meteo's two calls need room on a busy machine under coverage: with a 1 s
# deadline a reset's second attempt could end past it (504 instead of 502). The drip outlasts
# the deadline on the first call already (264 bytes of geocoding: 2.7 s); a geocoding answer
# just inside it meets the bug in test_open_meteo_waits_one_deadline_not_two.
QUICK = Profile(deadline=2.0, margin=1.0, ttl=2.0, locations=3, drip_ms=300, in_process=True)
# Production defaults (8 s deadline, 2 attempts); the stall outlasts the deadline.
LONG = Profile(deadline=8.0, margin=1.0, ttl=10.0, locations=10, drip_ms=1000, in_process=False)


@dataclass(frozen=True)
class Fault:
    """A stub fault and what a client of a cold cache sees while it lasts."""

    name: str
    knobs: dict[str, Any]
    cold: frozenset[int]
    slug: str | None


def faults(profile: Profile) -> list[Fault]:
    """The issue's eight faults."""
    bad = "upstream-bad-response"
    return [
        Fault("10 s stall", {"stall_ms": 10_000}, frozenset({504}), "upstream-timeout"),
        Fault("30% 5xx", {"error_rate": 0.3, "error_status": 500}, frozenset({200, 502}), None),
        Fault("100% 5xx", {"error_rate": 1.0, "error_status": 503}, frozenset({502}), bad),
        Fault("connection reset", {"reset_rate": 1.0}, frozenset({502}), "upstream-unavailable"),
        Fault("malformed JSON", {"malformed_rate": 1.0}, frozenset({502}), bad),
        Fault("truncated body", {"truncate_rate": 1.0}, frozenset({502}), "upstream-unavailable"),
        Fault(
            "429 Retry-After: 30",
            {"error_rate": 1.0, "error_status": 429, "retry_after": 30},
            frozenset({503}),
            "upstream-rate-limited",
        ),
        Fault("slow drip", {"drip_ms": profile.drip_ms}, frozenset({504}), "upstream-timeout"),
    ]


@dataclass
class Cell:
    """The answers for one provider, fault and cache state."""

    statuses: list[int] = field(default_factory=list)
    caches: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def render(self) -> str:
        """e.g. `504 timeout 0.51s` or `200 stale 0.50s`: statuses, how, slowest."""
        codes = "/".join(str(s) for s in sorted(set(self.statuses)))
        how = "/".join(sorted({c for c in self.caches if c} | set(self.problems)))
        return f"{codes} {how} {max(self.seconds):.2f}s"


@dataclass
class Row:
    """One provider and fault: the three cache states, and whether it recovered."""

    provider: str
    fault: Fault
    cells: dict[str, Cell] = field(default_factory=dict)
    recovered: list[int] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)


STATES = ("cold", "warm", "stale")


STATES = ("cold", "warm", "stale")
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def cities(row: int, state: str, count: int) -> list[str]:
    """Distinct names per row and state (letters only), so no cell shares a cache entry.

    The second letter names the row: `FaultRouter` sends their upstream requests there.
    """
    return [f"Q{LETTERS[row]}{state}{LETTERS[i % 26]}{LETTERS[i // 26]}" for i in range(count)]


_ROW: ContextVar[int] = ContextVar("row")


class FaultRouter(httpx.AsyncBaseTransport):
    """The production transport, with each request sent to the stub of its location's row.

    One app (one cache; one metrics registry per process allows no second app) then meets
    every fault at once. OpenWeatherMap requests name the city; Open-Meteo's forecast request
    has only coordinates, so the row of its geocoding request, made just before in the same
    task, is kept in a context variable.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, stubs: list[StubServer]) -> None:
        self._inner = inner
        self._stubs = stubs

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Rewrite the port, then send as the service would."""
        city = request.url.params.get("q") or request.url.params.get("name")
        if city:
            _ROW.set(LETTERS.index(city[1]))
        request.url = request.url.copy_with(port=self._stubs[_ROW.get()].port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the pool."""
        await self._inner.aclose()


@asynccontextmanager
async def in_process(
    settings: Settings, stubs: list[StubServer]
) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process on the production transport, routed to the stubs."""
    app = create_app(settings, transport=FaultRouter(build_transport(settings), stubs))
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://testserver", timeout=60
        ) as client,
    ):
        yield client


@asynccontextmanager
async def server_process(settings: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """The real `weather-api serve` with these settings, and a client of it."""
    port = free_port()
    args = ["serve", "--port", str(port)]
    for name, value in settings.items():
        args += ["--" + name.replace("_", "-"), str(value)]
    process = weather_api_process(*args, env={"WEATHER_API_OPENWEATHERMAP_API_KEY": "k"}, port=port)
    await asyncio.to_thread(process.__enter__)  # starting blocks; the stubs share this loop
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client
    finally:
        await asyncio.to_thread(process.__exit__, None, None, None)


async def timed_get(client: httpx.AsyncClient, city: str) -> tuple[httpx.Response, float]:
    """One city request, and how long its answer took."""
    started = time.monotonic()
    response = await client.get(f"/{city}/gb/")
    return response, time.monotonic() - started


async def run_row(
    profile: Profile, client: httpx.AsyncClient, stub: StubServer, row: Row, index: int
) -> None:
    """Fill the cache, let part of it expire, switch the fault on, ask, switch it off, ask."""
    names = {state: cities(index, state, profile.locations) for state in STATES}
    for city in names["stale"]:
        assert (await client.get(f"/{city}/gb/")).status_code == 200
    await asyncio.sleep(profile.ttl + 0.1)  # expired, well inside cache_stale_ttl
    for city in names["warm"]:
        assert (await client.get(f"/{city}/gb/")).status_code == 200
    stub.config.update(row.fault.knobs)
    asked = [(state, city) for state in STATES for city in names[state]]
    answers = await asyncio.gather(*(timed_get(client, city) for _, city in asked))
    for (state, city), (response, seconds) in zip(asked, answers, strict=True):
        cell = row.cells.setdefault(state, Cell())
        cell.statuses.append(response.status_code)
        cell.caches.append(response.headers.get("x-cache", ""))
        cell.seconds.append(seconds)
        if response.status_code != 200:
            slug = response.json()["type"].rsplit("/", 1)[-1]
            cell.problems.append(slug.removeprefix("upstream-"))
        row.wrong += judge(profile, row.fault, state, city, response, seconds)
    stub.config.clear()
    for city in names["cold"]:
        row.recovered.append((await client.get(f"/{city}/gb/")).status_code)
    row.recovered.append((await client.get("/healthz")).status_code)


async def run_provider(profile: Profile, provider: str) -> list[Row]:
    """Every fault against one provider at once, one stub per fault."""
    rows = [Row(provider, fault) for fault in faults(profile)]
    stubs = [await start_stub(StubConfig(port=0, seed=7)) for _ in rows]
    options: dict[str, Any] = {
        "provider": provider,
        "request_deadline": profile.deadline,
        "cache_ttl": profile.ttl,
    }
    try:
        if profile.in_process:
            settings = make_settings(**options, upstream_url=stubs[0].url)
            async with in_process(settings, stubs) as client:
                await asyncio.gather(
                    *(run_row(profile, client, stubs[i], row, i) for i, row in enumerate(rows))
                )
        else:
            # Eight server processes at once starve a small machine: answers then wait on
            # the CPU, not on the service. Two rows at a time keep the timings meaningful.
            running = asyncio.Semaphore(2)

            async def own_server(i: int) -> None:
                async with (
                    running,
                    server_process({**options, "upstream_url": stubs[i].url}) as client,
                ):
                    await run_row(profile, client, stubs[i], rows[i], i)

            await asyncio.gather(*(own_server(i) for i in range(len(rows))))
    finally:
        for stub in stubs:
            await stub.close()
    return rows


def judge(
    profile: Profile, fault: Fault, state: str, city: str, response: httpx.Response, seconds: float
) -> list[str]:
    """What is wrong with one answer, if anything."""
    wrong = []
    where = f"{fault.name}/{state}/{city}"
    status, cache = response.status_code, response.headers.get("x-cache")
    if seconds > profile.deadline + profile.margin:
        wrong.append(f"{where}: {seconds:.2f} s, past the deadline")
    if state == "warm" and (status, cache) != (200, "hit"):
        wrong.append(f"{where}: {status} {cache}, not a cache hit")
    if state == "stale" and (status != 200 or cache not in ("stale", "miss")):
        wrong.append(f"{where}: {status} {cache}, not the stale answer")
    if state == "cold":
        if status not in fault.cold:
            wrong.append(f"{where}: {status}, expected {sorted(fault.cold)}")
        if status != 200:
            problem = response.json()
            if response.headers["content-type"] != "application/problem+json":
                wrong.append(f"{where}: {response.headers['content-type']}")
            if fault.slug and not problem["type"].endswith(fault.slug):
                wrong.append(f"{where}: problem {problem['type']}")
        if status == 503 and response.headers.get("retry-after") != "30":
            wrong.append(f"{where}: Retry-After {response.headers.get('retry-after')}")
    if cache == "stale" and response.headers.get("cache-control") != "max-age=0":
        wrong.append(f"{where}: stale with {response.headers.get('cache-control')}")
    return wrong


def render(rows: list[Row], profile: Profile) -> str:
    """The matrix as a table, with a summary line."""
    lines = [f"{'provider':15}{'fault':21}" + "".join(f"{s:32}" for s in STATES) + "after"]
    for row in rows:
        cells = "".join(f"{row.cells[s].render():32}" for s in STATES)
        after = "ok" if set(row.recovered) == {200} else f"{row.recovered}"
        lines.append(f"{row.provider:15}{row.fault.name:21}{cells}{after}")
    answers = [s for row in rows for cell in row.cells.values() for s in cell.seconds]
    wrong = sum(len(row.wrong) for row in rows)
    lines.append(
        f"fault matrix: {len(rows) * len(STATES)} cases ({len(rows)} provider x fault rows x "
        f"{len(STATES)} cache states), {len(answers)} requests, slowest {max(answers):.2f} s "
        f"(deadline {profile.deadline:g} s + {profile.margin:g} s), {wrong} unexpected"
    )
    return "\n".join(lines)


async def run_matrix(profile: Profile) -> None:
    """Both providers, one after the other; fails with the table and what went wrong."""
    rows = []
    for provider in ("openweathermap", "openmeteo"):
        rows += await run_provider(profile, provider)
    table = render(rows, profile)
    print("\n" + table)
    problems = [w for row in rows for w in row.wrong]
    problems += [
        f"{r.provider}/{r.fault.name}: after {r.recovered}"
        for r in rows
        if set(r.recovered) != {200}
    ]
    assert not problems, "\n".join(problems[:20]) + "\n" + table


async def test_fault_matrix() -> None:
    """Each fault x cache state: a documented answer within the deadline; healthy afterwards."""
    await run_matrix(QUICK)


@pytest.mark.slow
@pytest.mark.skipif(not SOAK, reason="make soak: production deadlines, server processes")
async def test_fault_matrix_soak() -> None:
    """The same matrix with the default 8 s deadline, 10 s TTL and real server processes."""
    await run_matrix(LONG)


async def test_open_meteo_waits_one_deadline_not_two(stub: StubServer) -> None:
    """A geocoding answer that arrives in time, then a forecast that does not: one deadline."""
    deadline = 1.0
    settings = make_settings(provider="openmeteo", upstream_url=stub.url, request_deadline=deadline)
    # 32 bytes per 60 ms: the 264-byte geocoding answer takes ~0.5 s, the forecast ~1.8 s.
    stub.config.update({"drip_ms": 60})
    async with running_app(settings) as client:
        response, seconds = await timed_get(client, "Qzslow")
    assert response.status_code == 504
    assert seconds < deadline + 0.4, f"{seconds:.2f} s"
