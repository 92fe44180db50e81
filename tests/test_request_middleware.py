"""Request ids, access logs, metrics, and no API key anywhere it could leak.

The security headers every answer carries: tests/hostile/test_response_hygiene.py.
"""

from __future__ import annotations

import json
import logging
import sys

import httpx
import pytest
import respx

from tests.bodies import owm_london
from tests.conftest import API_KEY, free_port, make_settings, running_app, scrape
from tests.processes import weather_api_process
from weather_api.logs.formatting import JsonFormatter
from weather_api.stub import StubServer


async def test_request_id_is_echoed_or_made() -> None:
    """A sane X-Request-ID comes back unchanged; a missing or hostile one is replaced."""
    async with running_app(make_settings(provider="sample")) as client:
        kept = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        made = await client.get("/healthz")
        hostile = await client.get("/healthz", headers={"X-Request-ID": "a b\tc" * 100})
    assert kept.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32
    assert hostile.headers["x-request-id"] != "a b\tc" * 100


async def test_metrics_by_route_template_and_cache_events() -> None:
    """/metrics counts requests by route template (not raw path) and cache hits and misses."""
    route = {"method": "GET", "route": "/{city}/{country}/", "status": "200"}
    async with running_app(make_settings(provider="sample")) as client:
        before = await scrape(client)
        await client.get("/london/gb/")
        await client.get("/london/gb/")
        after = await scrape(client)
    assert after.since(before, "weather_api_http_request_duration_seconds_count", **route) == 2
    assert 'route="/london/gb/"' not in after.text
    assert after.since(before, "weather_api_cache_events_total", event="hits") == 1
    assert after.since(before, "weather_api_cache_events_total", event="misses") == 1
    assert "weather_api_http_requests_in_flight" in after.text


async def test_upstream_metrics_by_provider_and_outcome(owm: respx.Router) -> None:
    """Each upstream attempt is timed with its provider and outcome."""
    owm.get("/data/2.5/weather").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=owm_london())]
    )
    attempts = "weather_api_upstream_request_duration_seconds_count"
    async with running_app(make_settings(provider="openweathermap"), upstream=owm) as client:
        before = await scrape(client)
        await client.get("/london/gb/")
        after = await scrape(client)
    for outcome in ("bad-response", "ok"):
        labels = {"provider": "openweathermap", "outcome": outcome}
        assert after.since(before, attempts, **labels) == 1, outcome


def test_formatter_redacts_known_secrets_and_appid_values() -> None:
    """Log lines lose the key wherever it appears, and any appid= value, tracebacks included."""
    formatter = JsonFormatter([API_KEY])
    record = logging.LogRecord(
        "t", logging.ERROR, __file__, 1, 'key %s and "appid=other"', (API_KEY,), None
    )
    record.fields = {"request_id": API_KEY}
    try:
        raise RuntimeError(f"GET https://x/?q=a&appid={API_KEY}")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    line = json.loads(formatter.format(record))
    assert API_KEY not in json.dumps(line)
    assert "appid=***" in line["msg"]
    assert "other" not in line["msg"]


@pytest.mark.slow
@pytest.mark.timeout(90)  # a start-up, then seven faults cut at the 0.5 s deadline
async def test_sentinel_key_never_leaks(stub: StubServer) -> None:
    """Through 401s, timeouts, resets, bad input and debug logs, the key appears nowhere."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    seen: list[str] = []
    with weather_api_process(
        "serve",
        "--port", str(port),
        "--provider", "openweathermap",
        "--upstream-url", stub.url,
        "--log-level", "debug",
        "--request-deadline", "0.5",
        "--cache-ttl", "0",
        env={"WEATHER_API_OPENWEATHERMAP_API_KEY": API_KEY},
        port=port,
    ) as running:  # fmt: skip
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            faults: list[dict[str, object]] = [
                {"error_rate": 1.0, "error_status": 401},
                {"error_rate": 1.0, "error_status": 500},
                {"error_rate": 1.0, "error_status": 429, "retry_after": 1},
                {"reset_rate": 1.0},
                {"malformed_rate": 1.0},
                {"stall_ms": 2000},
                {},
            ]
            for fault in faults:
                stub.config.clear()
                stub.config.update(fault)
                response = await client.get("/london/gb/")
                seen.append(response.text + str(response.headers))
            stub.config.clear()
            for path in ("/x1/gb/", "/metrics", "/openapi.json", "/docs", "/v1/weather?q=a"):
                response = await client.get(path)
                seen.append(response.text + str(response.headers))
        output = running.output()
    assert API_KEY not in "".join(seen)
    assert API_KEY not in output
    assert '"level":"debug"' in output  # debug logging was really on


async def test_unusual_methods_share_one_metric_label() -> None:
    """A client inventing methods cannot grow the metric's label set."""
    other = {"method": "other", "route": "/healthz", "status": "405"}
    async with running_app(make_settings(provider="sample")) as client:
        before = await scrape(client)
        for method in ("BREW", "WHEN", "GET"):
            await client.request(method, "/healthz")
        after = await scrape(client)
    assert after.since(before, "weather_api_http_request_duration_seconds_count", **other) == 2
    assert "BREW" not in after.text
