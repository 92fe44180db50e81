"""Graceful drain of a real process: SIGTERM fails readiness, finishes in-flight work, exits 0."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest

from tests.conftest import free_port
from tests.processes import weather_api_process
from weather_api.stub import StubServer

pytestmark = pytest.mark.slow


@pytest.mark.timeout(90)  # a start-up, 1.5 s of upstream latency and a 0.5 s drain delay
async def test_sigterm_drains_in_flight_requests(stub: StubServer) -> None:
    """50 requests in flight at SIGTERM all get 200, /readyz says 503 meanwhile, exit code 0."""
    stub.config.latency_ms = 1500
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with weather_api_process(
        "serve",
        "--port", str(port),
        "--provider", "openweathermap",
        "--upstream-url", stub.url,
        "--cache-ttl", "0",
        "--drain-delay", "0.5",
        "--shutdown-grace", "10",
        env={"WEATHER_API_OPENWEATHERMAP_API_KEY": "drain-key"},
        port=port,
    ) as running:  # fmt: skip
        limits = httpx.Limits(max_connections=60)
        async with httpx.AsyncClient(base_url=base, timeout=10, limits=limits) as client:
            in_flight = [
                asyncio.create_task(client.get(f"/city{chr(97 + i % 26)}/gb/")) for i in range(50)
            ]
            try:
                async with asyncio.timeout(10):
                    while stub.stats.in_flight < 50:  # noqa: ASYNC110 - the stub offers no event
                        await asyncio.sleep(0.01)
            except TimeoutError:  # pragma: no cover - only on a machine too busy for this test
                pytest.fail(f"{stub.stats.in_flight} of 50 requests in flight after 10 s")
            running.process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.1)
            async with httpx.AsyncClient(base_url=base, timeout=5) as prober:
                readiness = await prober.get("/readyz")
            responses = await asyncio.gather(*in_flight)
        exit_code = await asyncio.to_thread(running.process.wait, 15)
    assert readiness.status_code == 503
    assert readiness.json() == {"status": "draining"}
    assert [r.status_code for r in responses] == [200] * 50
    assert exit_code == 0
