"""The stub's own endpoints under /_stub/: stats, reset, config and health."""

from __future__ import annotations

import httpx
import pytest

from weather_api.stub import StubServer

STATS_KEYS = {
    "requests_total",
    "in_flight",
    "max_in_flight",
    "requests_by_path",
    "errors_injected",
    "resets_injected",
    "malformed_injected",
    "truncated_injected",
    "unsolicited_sent",
    "connections_total",
}


async def test_healthz(client: httpx.AsyncClient) -> None:
    """GET /_stub/healthz is 200 {"status": "ok"}."""
    response = await client.get("/_stub/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_stats_count_api_requests_only(stub: StubServer, client: httpx.AsyncClient) -> None:
    """Requests are counted by path; the /_stub/* endpoints themselves are not counted."""
    await client.get("/data/2.5/weather", params={"q": "Paris,FR", "appid": "k"})
    await client.get("/data/2.5/weather", params={"q": "Nowhere", "appid": "k"})
    await client.get("/v1/search", params={"name": "Paris"})
    await client.get("/v1/forecast", params={"latitude": 1, "longitude": 2})
    await client.get("/_stub/healthz")
    await client.get("/_stub/config")
    stats = (await client.get("/_stub/stats")).json()
    assert set(stats) == STATS_KEYS
    assert stats["requests_total"] == 4
    assert stats["requests_by_path"] == {
        "/data/2.5/weather": 2,
        "/v1/search": 1,
        "/v1/forecast": 1,
    }
    assert (stats["in_flight"], stats["max_in_flight"]) == (0, 1)
    assert stats == stub.stats.snapshot()


async def test_reset_zeroes_the_counters(stub: StubServer, client: httpx.AsyncClient) -> None:
    """POST /_stub/reset zeroes every counter and returns the fresh stats."""
    stub.config.error_rate = 1
    await client.get("/data/2.5/weather", params={"q": "Paris,FR", "appid": "k"})
    response = await client.post("/_stub/reset")
    assert response.status_code == 200
    body = response.json()
    assert body["requests_total"] == body["errors_injected"] == body["connections_total"] == 0
    assert body["requests_by_path"] == {}
    assert stub.stats.snapshot() == body


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/_stub/stats", "GET, HEAD"),
        ("GET", "/_stub/reset", "POST"),
        ("POST", "/_stub/config", "GET, HEAD, PUT"),
        ("DELETE", "/_stub/healthz", "GET, HEAD"),
    ],
)
async def test_control_methods(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    """Each control endpoint takes its own methods and says which in `Allow`."""
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow


async def test_get_config(stub: StubServer, client: httpx.AsyncClient) -> None:
    """GET /_stub/config shows the faults in force."""
    stub.config.latency_ms = 12.5
    body = (await client.get("/_stub/config")).json()
    assert body["latency_ms"] == 12.5
    assert body == stub.config.as_dict()


async def test_put_config_changes_only_the_given_fields(
    stub: StubServer, client: httpx.AsyncClient
) -> None:
    """PUT /_stub/config changes the fields in its body and leaves the others alone."""
    stub.config.stall_ms = 3
    response = await client.put("/_stub/config", json={"reset_rate": 0.25, "drip_ms": 0})
    assert response.status_code == 200
    assert (stub.config.reset_rate, stub.config.stall_ms) == (0.25, 3.0)
    assert response.json() == stub.config.as_dict()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"error_rate": 2}', "error_rate"),
        (b'{"latency_ms": -5}', "latency_ms"),
        (b'{"retry_after": "soon"}', "retry_after"),
        (b'{"seed": 1}', "unknown fault field"),
    ],
)
async def test_put_config_rejects_bad_input(
    stub: StubServer, client: httpx.AsyncClient, content: bytes, reason: str
) -> None:
    """Bad JSON, a non-object, out-of-range values or unknown fields are 400; nothing changes."""
    before = stub.config.as_dict()
    response = await client.put("/_stub/config", content=content)
    assert response.status_code == 400
    assert reason in response.json()["reason"]
    assert stub.config.as_dict() == before
