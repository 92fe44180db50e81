"""Fixtures for the stub upstream's tests: in-process stubs, clients and raw connections."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from weather_api.stub import StubConfig, StubServer, start_stub

StartStub = Callable[..., Awaitable[StubServer]]


@pytest.fixture
async def make_stub() -> AsyncIterator[StartStub]:
    """Start stubs on free ports with the given config fields; all are closed after the test."""
    servers: list[StubServer] = []

    async def start(**fields: Any) -> StubServer:
        server = await start_stub(StubConfig(port=0, **fields))
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def stub(make_stub: StartStub) -> StubServer:
    """A stub with every fault off and a fixed seed."""
    return await make_stub(seed=1)


ClientFor = Callable[..., httpx.AsyncClient]


@pytest.fixture(scope="session")
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client: building one per client costs ~100 ms."""
    return ssl.create_default_context()


@pytest.fixture
def client_for(tls_context: ssl.SSLContext) -> ClientFor:
    """Make an (unopened) HTTP client aimed at a stub; use it with `async with`."""

    def make(server: StubServer, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=server.url, timeout=10, verify=tls_context, **kwargs)

    return make


@pytest.fixture
async def client(stub: StubServer, client_for: ClientFor) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client aimed at `stub`."""
    async with client_for(stub) as http:
        yield http


Eventually = Callable[[Callable[[], bool]], Awaitable[None]]


@pytest.fixture
def eventually() -> Eventually:
    """Wait (up to 5 s) until a condition about the stub's state holds."""

    async def wait(condition: Callable[[], bool]) -> None:
        for _ in range(500):
            if condition():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the condition did not become true within 5 s")

    return wait


@dataclass
class RawResponse:
    """One response as it came off the socket."""

    status: int
    headers: dict[str, str]
    body: bytes


class RawConnection:
    """A plain TCP connection, for what an HTTP client library hides (pipelining, resets)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        """Write bytes as they are."""
        self.writer.write(data)
        await self.writer.drain()

    async def request(self, path: str, *, method: str = "GET", count: int = 1) -> None:
        """Send `count` minimal HTTP/1.1 requests for `path` in one write (pipelined)."""
        await self.send(f"{method} {path} HTTP/1.1\r\nHost: stub\r\n\r\n".encode() * count)

    async def read_response(self, *, head_only: bool = False) -> RawResponse:
        """Read one response whose body length is its Content-Length (0 when `head_only`)."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        status_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if head_only else int(headers["content-length"])
        body = await asyncio.wait_for(self.reader.readexactly(length), 10)
        return RawResponse(int(status_line.split()[1]), headers, body)

    async def read_rest(self) -> bytes:
        """Everything until the server closes the connection."""
        return await asyncio.wait_for(self.reader.read(), 10)


RawConnect = Callable[[StubServer], Awaitable[RawConnection]]


@pytest.fixture
async def raw_connect() -> AsyncIterator[RawConnect]:
    """Open raw connections to a stub; all are closed after the test."""
    connections: list[RawConnection] = []

    async def connect(server: StubServer) -> RawConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        connection = RawConnection(reader, writer)
        connections.append(connection)
        return connection

    yield connect
    for connection in connections:
        connection.writer.close()
        # Some tests had the stub reset the connection.
        with contextlib.suppress(ConnectionError):
            await connection.writer.wait_closed()
