"""Clients that send too much, too slowly or nothing at all, against the real server process.

Each is answered with a 4xx or disconnected within the configured limits, while a steady
stream of ordinary requests keeps getting quick 200s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.conftest import free_port, scrape
from tests.hostile.rawhttp import Exchange, exchange, request
from tests.processes import weather_api_process

pytestmark = pytest.mark.slow

KEEP_ALIVE = 2  # --keep-alive-timeout (a busy machine may lag a second behind)
READ_TIMEOUT = 1.0  # --request-read-timeout
LIMIT = 500  # --limit-concurrency: above the idle test's 400 connections
MARGIN = 1.5  # scheduling slack on a busy machine
KIB = 1024


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """One server for the module: sample weather, short timeouts, the default size limits."""
    port = free_port()
    with weather_api_process(
        "serve",
        "--port", str(port),
        "--provider", "sample",
        "--keep-alive-timeout", str(KEEP_ALIVE),
        "--request-read-timeout", str(READ_TIMEOUT),
        "--limit-concurrency", str(LIMIT),
        port=port,
    ):  # fmt: skip
        yield port


class Bystander:
    """Ordinary requests every 20 ms on pooled connections, recorded for the verdict."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seconds: list[float] = []
        self.statuses: list[int] = []

    async def run(self) -> None:
        """Until cancelled; a request that fails outright counts as status 0."""
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=5) as c:
            while True:
                started = time.monotonic()
                try:
                    status = (await c.get("/london/gb/")).status_code
                except httpx.TransportError:
                    status = 0
                self.seconds.append(time.monotonic() - started)
                self.statuses.append(status)
                await asyncio.sleep(0.02)

    def verdict(self) -> str:
        """A line for assertion messages."""
        worst = max(self.seconds, default=0.0)
        return f"{len(self.statuses)} requests, statuses {set(self.statuses)}, worst {worst:.3f} s"


@pytest.fixture
async def bystander(port: int) -> AsyncIterator[Bystander]:
    """Ordinary traffic for the duration of a test; it must all be quick 200s."""
    watcher = Bystander(port)
    task = asyncio.create_task(watcher.run())
    await asyncio.sleep(0.1)
    yield watcher
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert watcher.statuses, "no ordinary request completed"
    assert set(watcher.statuses) == {200}, watcher.verdict()
    assert max(watcher.seconds) < 1.0, watcher.verdict()


def assert_refused(result: Exchange, status: int, *, within: float) -> None:
    """A problem+json answer with `status`, then the connection closed, in time."""
    assert result.status == status, result
    assert result.headers["content-type"] == "application/problem+json"
    assert result.headers["cache-control"] == "no-store"
    assert result.closed, result
    assert result.seconds < within, result


async def test_oversized_urls_and_headers_are_refused(port: int, bystander: Bystander) -> None:
    """Past 16 KiB of URL: 414; past 16 KiB of headers, in one piece or many: 431."""
    city = "/" + "a" * (20 * KIB) + "/gb/"
    big_header = request(headers=[("X-Big", "b" * (1024 * KIB))])
    many_headers = request(headers=[(f"X-{i}", "c" * 100) for i in range(2000)])
    head = request().removesuffix(b"\r\n")
    # One header that never ends, 1 KiB at a time: httptools would hold all of it.
    endless = [head, b"X-Endless: "] + [b"d" * KIB] * 200
    results = await asyncio.gather(
        exchange(port, [request(city)]),
        exchange(port, [request("/healthz?" + "q" * (1024 * KIB))]),
        exchange(port, [big_header]),
        exchange(port, [many_headers]),
        exchange(port, endless, pause=0.005),
    )
    for result, status in zip(results, [414, 414, 431, 431, 431], strict=True):
        assert_refused(result, status, within=MARGIN)
    assert b"16384 bytes" in results[0].body
    near_limits = request(
        "/london/gb/?units=metric&" + "x" * (15 * KIB),  # extra parameter: FastAPI's route
        headers=[(f"X-{i}", "e" * 100) for i in range(100)],  # ~10 KiB
    )
    fine = await exchange(port, [near_limits])
    assert fine.status == 200, fine


async def test_a_refusal_never_overtakes_an_earlier_answer(port: int) -> None:
    """Pipelined behind an ordinary request, an oversized one ends the connection unanswered."""
    result = await exchange(port, [request("/london/gb/") + request("/" + "u" * (20 * KIB))])
    assert result.status == 200, result
    assert result.headers["connection"] == "close"
    assert result.closed, result  # and no 414 after the 200


async def test_slow_clients_get_408_or_are_disconnected(port: int, bystander: Bystander) -> None:
    """Dribbled request lines and headers get 408; silent and slow-body clients are closed."""
    head = request(headers=[("X-Pad", "p" * 40)])
    slow_body = request("/healthz", headers=[("Content-Length", "1000")]) + b"x"
    started = time.monotonic()
    by_byte, by_line, silent, body = await asyncio.gather(
        exchange(port, [head[i : i + 1] for i in range(len(head))], pause=0.1, within=8),
        exchange(port, [line + b"\r\n" for line in head.split(b"\r\n")], pause=0.6, within=8),
        exchange(port, [], within=8),
        exchange(port, [slow_body] + [b"x"] * 999, pause=0.5, within=8),
    )
    assert_refused(by_byte, 408, within=READ_TIMEOUT + MARGIN)
    assert_refused(by_line, 408, within=READ_TIMEOUT + MARGIN)
    assert silent.status is None, silent
    assert silent.closed, silent
    assert silent.seconds < KEEP_ALIVE + MARGIN, silent
    # The app answers a GET without reading its body; the dribble then ends the connection.
    assert body.status == 200, body
    assert body.closed, body
    assert time.monotonic() - started < 8


async def test_idle_connections_are_closed_and_do_not_crowd_others_out(
    port: int, bystander: Bystander
) -> None:
    """Hundreds of idle connections, fresh or after one request, close after the keep-alive."""

    async def idle(*, with_request: bool) -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        try:
            if with_request:
                writer.write(request())
                await reader.readuntil(b"\r\n\r\n")
                started = time.monotonic()
            async with asyncio.timeout(KEEP_ALIVE + 5):
                while await reader.read(4096):
                    pass
            return time.monotonic() - started
        finally:
            writer.close()

    idle_for = await asyncio.gather(
        *(idle(with_request=i % 2 == 0) for i in range(400)), return_exceptions=True
    )
    errors = [e for e in idle_for if isinstance(e, BaseException)]
    assert not errors, errors[:3]
    assert max(s for s in idle_for if isinstance(s, float)) < KEEP_ALIVE + MARGIN


async def test_refusals_are_counted(port: int) -> None:
    """Refused requests never reach the app's access log, so /metrics counts them."""
    metrics = f"http://127.0.0.1:{port}/metrics"
    async with httpx.AsyncClient(timeout=5) as client:
        before = await scrape(client, metrics)  # the module's server: earlier tests refused too
        await exchange(port, [request("/" + "u" * (17 * KIB))])
        after = await scrape(client, metrics)
    assert after.since(before, "weather_api_http_requests_refused_total", status="414") == 1


async def test_concurrency_limit_answers_503_then_recovers(port: int) -> None:
    """Past --limit-concurrency, requests get a quick 503; once idle ones close, 200 again."""
    hogs = [await asyncio.open_connection("127.0.0.1", port) for _ in range(LIMIT + 10)]
    try:
        crowded = await exchange(port, [request("/london/gb/")])
        await asyncio.sleep(KEEP_ALIVE + MARGIN)
        async with httpx.AsyncClient(timeout=5) as client:
            recovered = await client.get(f"http://127.0.0.1:{port}/london/gb/")
    finally:
        for _, writer in hogs:
            writer.close()
    assert crowded.status == 503, crowded
    assert crowded.seconds < MARGIN, crowded
    assert recovered.status_code == 200
