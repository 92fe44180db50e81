"""Each fault knob, switched on at start-up or while the stub runs."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from weather_api.stub import StubServer
from weather_api.stub.http import DRIP_CHUNK_BYTES, MALFORMED_BODY

# Every fault here is a timer under a second long: a test that waits longer is broken.
pytestmark = pytest.mark.timeout(30)

StartStub = Callable[..., Awaitable[StubServer]]
ClientFor = Callable[..., httpx.AsyncClient]
RawConnect = Callable[[StubServer], Awaitable[Any]]
Eventually = Callable[[Callable[[], bool]], Awaitable[None]]

WEATHER = "/data/2.5/weather?q=London,GB&appid=k"
SEARCH = "/v1/search?name=London&countryCode=GB"


async def timed_get(
    client_for: ClientFor, server: StubServer, path: str
) -> tuple[httpx.Response, float]:
    """One request on a fresh client, and how long it took."""
    async with client_for(server) as http:
        started = time.perf_counter()
        response = await http.get(path)
        return response, time.perf_counter() - started


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (WEATHER, {"cod": 503, "message": "stub: injected 503 Service Unavailable"}),
        (SEARCH, {"error": True, "reason": "stub: injected 503 Service Unavailable"}),
    ],
)
async def test_error_rate_one_answers_every_request_with_the_error(
    make_stub: StartStub, path: str, body: dict[str, Any], client_for: ClientFor
) -> None:
    """error_rate=1 gives error_status with a JSON body shaped like the API's own errors."""
    server = await make_stub(error_rate=1)
    response, _ = await timed_get(client_for, server, path)
    assert response.status_code == 503
    assert response.json() == body
    assert "retry-after" not in response.headers
    assert server.stats.errors_injected == 1


async def test_injected_429_carries_retry_after(
    make_stub: StartStub, client_for: ClientFor
) -> None:
    """With retry_after set, injected errors carry `Retry-After: <n>`."""
    server = await make_stub(error_rate=1, error_status=429, retry_after=7)
    response, _ = await timed_get(client_for, server, WEATHER)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["cod"] == 429


async def test_unlisted_error_status_still_has_a_reason_phrase(
    make_stub: StartStub, client_for: ClientFor
) -> None:
    """An error status outside http.HTTPStatus (599) is sent with a generic phrase."""
    server = await make_stub(error_rate=1, error_status=599)
    response, _ = await timed_get(client_for, server, SEARCH)
    assert response.status_code == 599
    assert response.reason_phrase == "Error"


async def test_reset_rate_one_is_a_transport_error(
    make_stub: StartStub, client_for: ClientFor
) -> None:
    """reset_rate=1 makes the client fail with a transport error, not an HTTP status."""
    server = await make_stub(reset_rate=1)
    with pytest.raises(httpx.TransportError):
        await timed_get(client_for, server, WEATHER)
    assert server.stats.resets_injected == 1
    assert server.stats.in_flight == 0


async def test_reset_is_a_tcp_rst(make_stub: StartStub, raw_connect: RawConnect) -> None:
    """The reset is an RST (ECONNRESET on the client), not an orderly close."""
    server = await make_stub(reset_rate=1)
    connection = await raw_connect(server)
    await connection.request(WEATHER)
    with pytest.raises(ConnectionResetError):
        await connection.read_rest()


async def test_reset_drops_the_requests_pipelined_behind_it(
    make_stub: StartStub, raw_connect: RawConnect, eventually: Eventually
) -> None:
    """Requests queued behind a reset are never answered, and leave in_flight at 0."""
    server = await make_stub(reset_rate=1, drip_ms=1)
    connection = await raw_connect(server)
    await connection.request(WEATHER, count=3)
    with pytest.raises(ConnectionResetError):
        await connection.read_rest()
    await eventually(lambda: server.stats.in_flight == 0)
    assert server.stats.resets_injected == 1
    assert server.stats.requests_total == 3
    assert server.stats.in_flight == 0


async def test_malformed_rate_one_is_invalid_json(
    make_stub: StartStub, client_for: ClientFor
) -> None:
    """malformed_rate=1 answers 200 with a body that does not parse as JSON."""
    server = await make_stub(malformed_rate=1)
    response, _ = await timed_get(client_for, server, WEATHER)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.content == MALFORMED_BODY
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert server.stats.malformed_injected == 1


async def test_truncate_rate_one_is_a_protocol_error(
    make_stub: StartStub, client_for: ClientFor
) -> None:
    """truncate_rate=1 sends less body than Content-Length promises, then closes."""
    server = await make_stub(truncate_rate=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await timed_get(client_for, server, WEATHER)
    assert server.stats.truncated_injected == 1


async def test_truncation_on_the_wire(make_stub: StartStub, raw_connect: RawConnect) -> None:
    """The body stops at half its Content-Length and the connection ends with FIN."""
    server = await make_stub(truncate_rate=1)
    connection = await raw_connect(server)
    await connection.request(WEATHER)
    response = await connection.read_response(head_only=True)
    rest = await connection.read_rest()
    assert len(rest) == int(response.headers["content-length"]) // 2


@pytest.mark.parametrize("path", [WEATHER, SEARCH, "/v1/forecast?latitude=51.5&longitude=-0.1"])
async def test_trailing_response_follows_each_answer_in_the_same_write(
    make_stub: StartStub, raw_connect: RawConnect, path: str
) -> None:
    """trailing_response_rate=1: each answer is followed by a whole second one, for elsewhere."""
    server = await make_stub(trailing_response_rate=1)
    connection = await raw_connect(server)
    await connection.request(path)
    asked = await connection.read_response()
    unasked = await connection.read_response()
    assert asked.status == unasked.status == 200
    assert asked.body != unasked.body
    assert b"London" in asked.body or b"51.5" in asked.body
    assert b"Decoyville" in unasked.body or b"-45" in unasked.body
    assert server.stats.snapshot()["requests_total"] == 1  # the second was never asked for


async def test_trailing_response_rate_is_set_over_http(
    make_stub: StartStub, client_for: ClientFor
) -> None:
    """`PUT /_stub/config` switches the trailing answer on and off like any fault."""
    server = await make_stub()
    async with client_for(server) as http:
        put = await http.put("/_stub/config", json={"trailing_response_rate": 0.5})
        assert put.json()["trailing_response_rate"] == 0.5
    assert server.config.trailing_response_rate == 0.5


async def test_head_is_never_truncated(make_stub: StartStub, client_for: ClientFor) -> None:
    """A HEAD response has no body to cut, so it arrives whole."""
    server = await make_stub(truncate_rate=1)
    async with client_for(server) as http:
        response = await http.head(WEATHER)
    assert response.status_code == 200
    assert server.stats.truncated_injected == 0


async def test_stall_delays_the_answer(make_stub: StartStub, client_for: ClientFor) -> None:
    """stall_ms holds the response back at least that long."""
    server = await make_stub(stall_ms=200)
    response, elapsed = await timed_get(client_for, server, WEATHER)
    assert response.status_code == 200
    assert elapsed >= 0.2


async def test_latency_with_jitter_stays_within_its_bounds(
    make_stub: StartStub, client_for: ClientFor
) -> None:
    """Each response takes latency +- jitter, here 200 to 400 ms.

    A busy machine only adds time: each response gets 600 ms of room above the bound, and the
    median, which two stalled requests cannot move, 250 ms.
    """
    server = await make_stub(latency_ms=300, jitter_ms=100, seed=3)
    elapsed = []
    for _ in range(5):
        response, seconds = await timed_get(client_for, server, WEATHER)
        assert response.status_code == 200
        elapsed.append(seconds)
    assert min(elapsed) >= 0.2, elapsed
    assert max(elapsed) < 0.4 + 0.6, elapsed
    assert statistics.median(elapsed) < 0.4 + 0.25, elapsed


async def test_jitter_never_makes_a_negative_delay(
    make_stub: StartStub, client_for: ClientFor
) -> None:
    """Jitter larger than the latency clamps the delay at zero instead of failing."""
    server = await make_stub(latency_ms=1, jitter_ms=50, seed=5)
    for _ in range(5):
        response, _ = await timed_get(client_for, server, WEATHER)
        assert response.status_code == 200


async def test_drip_sends_the_body_in_small_slow_chunks(
    make_stub: StartStub, client_for: ClientFor
) -> None:
    """drip_ms spaces the body out in DRIP_CHUNK_BYTES pieces."""
    server = await make_stub(drip_ms=15)
    async with (
        client_for(server) as http,
        http.stream("GET", SEARCH) as response,
    ):
        started = time.perf_counter()
        chunks = [chunk async for chunk in response.aiter_raw()]
        elapsed = time.perf_counter() - started
    body = b"".join(chunks)
    pieces = -(-len(body) // DRIP_CHUNK_BYTES)
    assert json.loads(body)["results"][0]["name"] == "London"
    assert len(chunks) > 1
    assert elapsed >= (pieces - 1) * 0.015


async def test_drip_with_truncation_closes_after_half(
    make_stub: StartStub, client_for: ClientFor
) -> None:
    """Dripping and truncation combine: half the body arrives slowly, then the socket closes."""
    server = await make_stub(drip_ms=1, truncate_rate=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await timed_get(client_for, server, WEATHER)


async def test_faults_change_at_run_time_in_process(
    make_stub: StartStub, client_for: ClientFor
) -> None:
    """Assigning to `server.config` switches a fault on and off for the next requests."""
    server = await make_stub()
    async with client_for(server) as http:
        assert (await http.get(WEATHER)).status_code == 200
        server.config.error_rate = 1
        server.config.error_status = 500
        assert (await http.get(WEATHER)).status_code == 500
        server.config.clear()
        assert (await http.get(WEATHER)).status_code == 200


async def test_faults_change_at_run_time_over_http(
    make_stub: StartStub, client_for: ClientFor
) -> None:
    """`PUT /_stub/config` switches faults without a restart, and GET shows them."""
    server = await make_stub()
    async with client_for(server) as http:
        put = await http.put(
            "/_stub/config", json={"error_rate": 1, "error_status": 429, "retry_after": 2}
        )
        assert put.status_code == 200
        assert put.json()["error_status"] == 429
        response = await http.get(WEATHER)
        assert (response.status_code, response.headers["retry-after"]) == (429, "2")
        await http.put("/_stub/config", json={"error_rate": 0})
        assert (await http.get(WEATHER)).status_code == 200
        assert (await http.get("/_stub/config")).json() == server.config.as_dict()


async def test_seed_replays_the_same_faults(make_stub: StartStub, client_for: ClientFor) -> None:
    """Two stubs with the same seed inject faults on the same requests."""

    async def statuses(server: StubServer) -> list[int]:
        async with client_for(server) as http:
            return [(await http.get(WEATHER)).status_code for _ in range(30)]

    first = await statuses(await make_stub(error_rate=0.5, seed=42))
    second = await statuses(await make_stub(error_rate=0.5, seed=42))
    assert first == second
    assert set(first) == {200, 503}


async def test_control_endpoints_are_never_faulted(
    make_stub: StartStub, client_for: ClientFor
) -> None:
    """With every fault on, /_stub/* still answers at once, so tests can switch them off."""
    server = await make_stub(reset_rate=1, error_rate=1, stall_ms=5000)
    response, elapsed = await timed_get(client_for, server, "/_stub/healthz")
    assert response.json() == {"status": "ok"}
    assert elapsed < 1
