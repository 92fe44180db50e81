"""The aiohttp transport under httpx: answers, and each wire failure as the right httpx error."""

from __future__ import annotations

import gzip

import httpx
import pytest

from tests.conftest import free_port
from weather_api.stub import StubServer
from weather_api.transport import AiohttpTransport

TIMEOUT = httpx.Timeout(2.0, connect=1.0)
LIMITS = httpx.Limits(max_connections=10, keepalive_expiry=5)


async def send(transport: AiohttpTransport, url: str) -> httpx.Response:
    response = await transport.handle_async_request(httpx.Request("GET", url))
    await response.aread()
    return response


async def test_answers_and_reuses_connections(stub: StubServer) -> None:
    """Answers come back as httpx responses; ten requests share one connection."""
    async with AiohttpTransport(timeout=TIMEOUT, limits=LIMITS) as transport:
        for _ in range(10):
            response = await send(transport, f"{stub.url}/data/2.5/weather?q=Oslo,NO&appid=k")
            assert response.status_code == 200
            assert response.json()["name"] == "Oslo"
    assert stub.stats.snapshot()["connections_total"] == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"reset_rate": 1.0}, httpx.ReadError),
        ({"truncate_rate": 1.0}, httpx.ReadError),
        ({"stall_ms": 3000}, httpx.ReadTimeout),
    ],
)
async def test_wire_failures_become_httpx_errors(
    stub: StubServer, fault: dict[str, float], error: type[Exception]
) -> None:
    """Resets and cut bodies are read errors, a stall a read timeout: never a "connect timeout"."""
    stub.config.update(fault)
    timeout = httpx.Timeout(0.3, connect=1.0)
    async with AiohttpTransport(timeout=timeout, limits=LIMITS) as transport:
        with pytest.raises(error):
            await send(transport, f"{stub.url}/data/2.5/weather?q=Oslo,NO&appid=k")


async def test_refused_connection_is_connect_error() -> None:
    """Nothing listening: httpx.ConnectError."""
    async with AiohttpTransport(timeout=TIMEOUT, limits=LIMITS) as transport:
        with pytest.raises(httpx.ConnectError):
            await send(transport, f"http://127.0.0.1:{free_port()}/")


async def test_compressed_bodies_are_decoded_once() -> None:
    """A gzip body is decoded by httpx, as with any transport (aiohttp leaves it alone)."""
    import asyncio

    body = gzip.compress(b'{"ok": true}')

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len(body)}\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, AiohttpTransport(timeout=TIMEOUT, limits=LIMITS) as transport:
        response = await send(transport, f"http://127.0.0.1:{port}/")
    assert response.json() == {"ok": True}
