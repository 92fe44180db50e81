"""The hand-written HTTP/1.1 layer: connections, pipelining, methods and edge cases."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from weather_api.stub import StubServer, owm
from weather_api.stub.app import StubApp
from weather_api.stub.config import FaultConfig
from weather_api.stub.http import MAX_REQUEST_BODY_BYTES, HttpProtocol, ServerState
from weather_api.stub.stats import StubStats

StartStub = Callable[..., Awaitable[StubServer]]
ClientFor = Callable[..., httpx.AsyncClient]
RawConnect = Callable[[StubServer], Awaitable[Any]]
Eventually = Callable[[Callable[[], bool]], Awaitable[None]]

WEATHER = "/data/2.5/weather?q=London,GB&appid=k"


async def test_keep_alive_serves_many_requests_on_one_connection(
    stub: StubServer, client_for: ClientFor
) -> None:
    """A hundred requests through a one-connection pool open exactly one connection."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with client_for(stub, limits=limits) as http:
        for _ in range(100):
            assert (await http.get(WEATHER)).status_code == 200
    assert stub.stats.connections_total == 1
    assert stub.stats.requests_total == 100


async def test_pipelined_requests_are_answered_in_order(
    make_stub: StartStub, raw_connect: RawConnect
) -> None:
    """A slow request holds back a fast one behind it on the same connection."""
    server = await make_stub(latency_ms=50)
    connection = await raw_connect(server)
    await connection.send(
        b"GET /v1/search?name=Bern&countryCode=CH HTTP/1.1\r\nHost: s\r\n\r\n"
        b"GET /_stub/healthz HTTP/1.1\r\nHost: s\r\n\r\n"
        b"GET /nope HTTP/1.1\r\nHost: s\r\n\r\n"
        b"GET /v1/search?name=Graz&countryCode=AT HTTP/1.1\r\nHost: s\r\n\r\n"
    )
    responses = [await connection.read_response() for _ in range(4)]
    assert [r.status for r in responses] == [200, 200, 404, 200]
    assert json.loads(responses[0].body)["results"][0]["name"] == "Bern"
    assert json.loads(responses[1].body) == {"status": "ok"}
    assert json.loads(responses[3].body)["results"][0]["name"] == "Graz"


async def test_many_pipelined_requests_without_delay(
    stub: StubServer, raw_connect: RawConnect
) -> None:
    """Hundreds of requests in one write all get their answers, in order."""
    connection = await raw_connect(stub)
    await connection.request(WEATHER, count=300)
    for _ in range(300):
        assert (await connection.read_response()).status == 200
    assert stub.stats.requests_total == 300


async def test_concurrent_requests_show_in_max_in_flight(
    make_stub: StartStub, client_for: ClientFor
) -> None:
    """Requests sent concurrently overlap while delayed, and in_flight drops back to 0."""
    server = await make_stub(latency_ms=100)
    async with client_for(server) as http:
        responses = await asyncio.gather(*(http.get(WEATHER) for _ in range(5)))
    assert all(r.status_code == 200 for r in responses)
    assert server.stats.max_in_flight == 5
    assert server.stats.in_flight == 0


async def test_sequential_requests_never_overlap(
    make_stub: StartStub, client_for: ClientFor
) -> None:
    """One request at a time keeps max_in_flight at 1."""
    server = await make_stub(latency_ms=5)
    async with client_for(server) as http:
        for _ in range(3):
            await http.get(WEATHER)
    assert server.stats.max_in_flight == 1


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_writes_to_the_api_are_405(client: httpx.AsyncClient, method: str) -> None:
    """The fake APIs take GET and HEAD only."""
    response = await client.request(method, WEATHER)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json() == {"error": True, "reason": "Method Not Allowed"}


@pytest.mark.parametrize("path", ["/", "/data/2.5/onecall", "/v1/archive", "/_stub/nope"])
async def test_unknown_paths_are_404(client: httpx.AsyncClient, path: str) -> None:
    """Paths the stub does not serve are 404, whatever the method."""
    assert (await client.get(path)).status_code == 404
    assert (await client.post(path)).status_code == 404


async def test_unknown_paths_are_counted_together(
    stub: StubServer, client: httpx.AsyncClient
) -> None:
    """Requests to unknown paths share one `requests_by_path` key, so the dict stays small."""
    for path in ("/a", "/b", "/c"):
        await client.get(path)
    assert stub.stats.requests_by_path == {"other": 3}


async def test_head_has_the_get_headers_and_no_body(client: httpx.AsyncClient) -> None:
    """HEAD answers with GET's status and Content-Length but sends no body."""
    get = await client.get("/v1/search?name=Bern&countryCode=CH")
    head = await client.head("/v1/search?name=Bern&countryCode=CH")
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(get.content))
    assert head.content == b""


async def test_http_10_keep_alive(stub: StubServer, raw_connect: RawConnect) -> None:
    """An HTTP/1.0 client asking for keep-alive is told so and can send another request."""
    connection = await raw_connect(stub)
    request = b"GET /_stub/healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    await connection.send(request)
    first = await connection.read_response()
    assert first.headers["connection"] == "keep-alive"
    await connection.send(request)
    assert (await connection.read_response()).status == 200


async def test_http_10_closes_by_default(stub: StubServer, raw_connect: RawConnect) -> None:
    """A plain HTTP/1.0 request gets `Connection: close` and then EOF."""
    connection = await raw_connect(stub)
    await connection.send(b"GET /_stub/healthz HTTP/1.0\r\n\r\nGET /_stub/healthz HTTP/1.0\r\n\r\n")
    response = await connection.read_response()
    assert response.headers["connection"] == "close"
    assert await connection.read_rest() == b""


async def test_connection_close_request(stub: StubServer, raw_connect: RawConnect) -> None:
    """`Connection: close` from the client ends the connection after its response."""
    connection = await raw_connect(stub)
    await connection.send(b"GET " + WEATHER.encode() + b" HTTP/1.1\r\nConnection: close\r\n\r\n")
    response = await connection.read_response()
    assert (response.status, response.headers["connection"]) == (200, "close")
    assert await connection.read_rest() == b""


async def test_garbage_is_400_then_close(stub: StubServer, raw_connect: RawConnect) -> None:
    """Bytes that are not HTTP get a 400 and the connection closes."""
    connection = await raw_connect(stub)
    await connection.send(b"HELLO THERE\r\n\r\n")
    response = await connection.read_response()
    assert response.status == 400
    assert response.headers["connection"] == "close"
    assert await connection.read_rest() == b""


async def test_garbage_after_a_slow_request_waits_its_turn(
    make_stub: StartStub, raw_connect: RawConnect
) -> None:
    """A parse error behind a delayed request is answered after it, then the socket closes."""
    server = await make_stub(latency_ms=30)
    connection = await raw_connect(server)
    await connection.send(b"GET " + WEATHER.encode() + b" HTTP/1.1\r\n\r\n\x00\x01garbage\r\n\r\n")
    assert (await connection.read_response()).status == 200
    assert (await connection.read_response()).status == 400
    assert await connection.read_rest() == b""


async def test_oversized_body_is_413(stub: StubServer, raw_connect: RawConnect) -> None:
    """A request body over the limit is refused with 413 and a close."""
    connection = await raw_connect(stub)
    size = MAX_REQUEST_BODY_BYTES + 1
    await connection.send(
        f"PUT /_stub/config HTTP/1.1\r\nContent-Length: {size}\r\n\r\n".encode() + b" " * size
    )
    response = await connection.read_response()
    assert response.status == 413
    assert await connection.read_rest() == b""
    assert stub.config == FaultConfig()


async def test_client_gone_mid_request_leaves_nothing_in_flight(
    make_stub: StartStub, raw_connect: RawConnect, eventually: Eventually
) -> None:
    """Requests whose client hung up stop counting as in flight."""
    server = await make_stub(latency_ms=5000)
    connection = await raw_connect(server)
    await connection.request(WEATHER, count=2)
    await eventually(lambda: server.stats.in_flight == 2)
    connection.writer.close()
    await eventually(lambda: server.stats.in_flight == 0)


async def test_handler_failure_is_500(
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug in a handler becomes a logged 500, and the connection keeps working."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(owm, "current_weather", broken)
    with caplog.at_level(logging.ERROR, logger="weather_api.stub.http"):
        response = await client.get(WEATHER)
    assert response.status_code == 500
    assert "stub handler failed" in caplog.text
    assert (await client.get("/_stub/healthz")).status_code == 200


async def test_close_drops_open_connections(
    make_stub: StartStub, client_for: ClientFor, eventually: Eventually
) -> None:
    """Closing the server ends idle keep-alive connections and requests still waiting."""
    server = await make_stub(latency_ms=5000)
    async with client_for(server) as http:
        pending = asyncio.ensure_future(http.get(WEATHER))
        await eventually(lambda: server.stats.in_flight == 1)
        await server.close()
        with pytest.raises(httpx.TransportError):
            await pending
    assert server.stats.in_flight == 0


async def test_server_works_as_a_context_manager(
    make_stub: StartStub, client_for: ClientFor
) -> None:
    """`async with` closes the server on exit."""
    server = await make_stub()
    async with server as same:
        assert same is server
    with pytest.raises(httpx.ConnectError):
        async with client_for(server) as http:
            await http.get("/_stub/healthz")


class _FakeTransport:
    """Records flow-control calls."""

    def __init__(self, *, closing: bool) -> None:
        self.closing = closing
        self.calls: list[str] = []

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")


@pytest.mark.parametrize(("closing", "calls"), [(False, ["pause", "resume"]), (True, [])])
def test_slow_readers_pause_request_parsing(closing: bool, calls: list[str]) -> None:
    """While the client is not reading responses, the stub stops reading its requests."""
    stats = StubStats()
    state = ServerState(app=StubApp(faults=FaultConfig(), stats=stats), rng=random.Random(0))  # noqa: S311  # not crypto
    protocol = HttpProtocol(state)
    transport = _FakeTransport(closing=closing)
    protocol.connection_made(transport)  # type: ignore[arg-type]
    protocol.pause_writing()
    protocol.resume_writing()
    assert transport.calls == calls
    protocol.connection_lost(None)
    assert state.connections == set()


async def test_requests_after_connection_close_are_ignored(
    make_stub: StartStub, raw_connect: RawConnect
) -> None:
    """Bytes that follow a `Connection: close` request are neither answered nor counted."""
    server = await make_stub(latency_ms=50)
    connection = await raw_connect(server)
    await connection.send(b"GET " + WEATHER.encode() + b" HTTP/1.1\r\nConnection: close\r\n\r\n")
    await asyncio.sleep(0.01)
    await connection.request(WEATHER)
    assert (await connection.read_response()).status == 200
    assert await connection.read_rest() == b""
    assert server.stats.requests_total == 1


async def test_requests_pipelined_after_an_oversized_body_are_ignored(
    stub: StubServer, raw_connect: RawConnect
) -> None:
    """After a 413 the connection closes; requests pipelined behind it get no answer."""
    connection = await raw_connect(stub)
    size = MAX_REQUEST_BODY_BYTES + 1
    await connection.send(
        f"PUT /_stub/config HTTP/1.1\r\nContent-Length: {size}\r\n\r\n".encode()
        + b" " * size
        + b"GET "
        + WEATHER.encode()
        + b" HTTP/1.1\r\n\r\n"
    )
    assert (await connection.read_response()).status == 413
    assert await connection.read_rest() == b""
    assert stub.stats.requests_total == 0
