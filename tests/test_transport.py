"""Our HTTP/1.1 pool under httpx: answers, reuse, limits, each wire failure an httpx error."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
import trustme

from tests.conftest import free_port
from weather_api.stub import StubServer
from weather_api.transport import HttpTransport, ResponseTooLarge

TIMEOUT = httpx.Timeout(2.0, connect=1.0)
LIMITS = httpx.Limits(max_connections=10, keepalive_expiry=5)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def send(transport: HttpTransport, url: str, **kwargs: object) -> httpx.Response:
    response = await transport.handle_async_request(httpx.Request("GET", url, **kwargs))  # type: ignore[arg-type]
    await response.aread()
    return response


@asynccontextmanager
async def raw_server(handler: Handler, **kwargs: object) -> AsyncIterator[str]:
    """A TCP server on 127.0.0.1 speaking whatever `handler` writes; yields its base URL.

    Connections still open at the end are closed, so that none outlives the test's loop.
    """
    writers: list[asyncio.StreamWriter] = []

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await handler(reader, writer)

    server = await asyncio.start_server(tracked, "127.0.0.1", 0, **kwargs)  # type: ignore[arg-type]
    port = server.sockets[0].getsockname()[1]
    try:
        async with server:
            yield f"http://127.0.0.1:{port}"
    finally:
        for writer in writers:
            writer.close()
        await asyncio.sleep(0.01)


def answering(head: bytes, body: bytes = b"", *, close: bool = True) -> Handler:
    """A handler that answers every request on a connection with `head` + `body`."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(head + body)
                await writer.drain()
                if close:
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    return handler


def ok(body: bytes, *headers: str) -> bytes:
    lines = [f"Content-Length: {len(body)}", *headers]
    return ("HTTP/1.1 200 OK\r\n" + "".join(f"{line}\r\n" for line in lines) + "\r\n").encode()


async def test_answers_and_reuses_connections(stub: StubServer) -> None:
    """Answers come back as httpx responses; ten requests share one connection."""
    async with HttpTransport(timeout=TIMEOUT, limits=LIMITS) as transport:
        for _ in range(10):
            response = await send(transport, f"{stub.url}/data/2.5/weather?q=Oslo,NO&appid=k")
            assert response.status_code == 200
            assert response.json()["name"] == "Oslo"
    assert stub.stats.snapshot()["connections_total"] == 1


async def test_concurrent_requests_stay_within_max_connections(stub: StubServer) -> None:
    """Forty requests at once over a pool of four: all answered, never more than four sockets."""
    stub.config.update({"latency_ms": 20})
    limits = httpx.Limits(max_connections=4, keepalive_expiry=5)
    async with HttpTransport(timeout=TIMEOUT, limits=limits) as transport:
        url = f"{stub.url}/data/2.5/weather?q=Oslo,NO&appid=k"
        responses = await asyncio.gather(*(send(transport, url) for _ in range(40)))
    assert {response.status_code for response in responses} == {200}
    assert stub.stats.snapshot()["connections_total"] == 4


async def test_a_full_pool_times_out_as_pool_timeout(stub: StubServer) -> None:
    """A request that finds every connection busy past `timeout.pool`: httpx.PoolTimeout."""
    stub.config.update({"latency_ms": 500})
    timeout = httpx.Timeout(2.0, pool=0.1)
    limits = httpx.Limits(max_connections=1)
    async with HttpTransport(timeout=timeout, limits=limits) as transport:
        url = f"{stub.url}/data/2.5/weather?q=Oslo,NO&appid=k"
        first = asyncio.create_task(send(transport, url))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.PoolTimeout):
            await send(transport, url)
        assert (await first).status_code == 200


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
    async with HttpTransport(timeout=timeout, limits=LIMITS) as transport:
        with pytest.raises(error):
            await send(transport, f"{stub.url}/data/2.5/weather?q=Oslo,NO&appid=k")


async def test_a_slow_but_steady_body_is_not_a_read_timeout(stub: StubServer) -> None:
    """The read timeout counts silence, not the whole answer: a drip faster than it succeeds."""
    stub.config.update({"drip_ms": 40})  # 32 bytes every 40 ms: the answer takes well over 0.3 s
    timeout = httpx.Timeout(0.3, connect=1.0)
    async with HttpTransport(timeout=timeout, limits=LIMITS) as transport:
        started = asyncio.get_running_loop().time()
        response = await send(transport, f"{stub.url}/data/2.5/weather?q=Oslo,NO&appid=k")
        elapsed = asyncio.get_running_loop().time() - started
    assert response.json()["name"] == "Oslo"
    assert elapsed > 0.3


async def test_refused_connection_is_connect_error() -> None:
    """Nothing listening: httpx.ConnectError."""
    async with HttpTransport(timeout=TIMEOUT, limits=LIMITS) as transport:
        with pytest.raises(httpx.ConnectError):
            await send(transport, f"http://127.0.0.1:{free_port()}/")


async def test_not_http_is_a_protocol_error() -> None:
    """An answer that is not HTTP/1.1: httpx.RemoteProtocolError."""
    async with (
        raw_server(answering(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")) as url,
        HttpTransport(timeout=TIMEOUT, limits=LIMITS) as transport,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            await send(transport, url)


async def test_a_body_that_ends_with_the_connection_is_read_whole() -> None:
    """No Content-Length and no chunking: the body is everything until the server closes."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
    async with (
        raw_server(answering(head, b'{"ok": true}')) as url,
        HttpTransport(timeout=TIMEOUT, limits=LIMITS) as transport,
    ):
        assert (await send(transport, url)).json() == {"ok": True}


async def test_chunked_bodies_are_joined() -> None:
    """A chunked answer arrives as one body, and the connection is reused after it."""
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b'5\r\n{"ok"\r\n7\r\n: true}\r\n0\r\n\r\n'
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await answering(head, body, close=False)(reader, writer)

    async with raw_server(handler) as url, HttpTransport(timeout=TIMEOUT, limits=LIMITS) as t:
        for _ in range(3):
            assert (await send(t, url)).json() == {"ok": True}
    assert connections == 1


async def test_a_connection_closed_while_idle_is_replaced() -> None:
    """The server closes each connection after its answer, as HTTP allows: no error shows."""
    body = b'{"n": 1}'
    async with (
        raw_server(answering(ok(body), body, close=True)) as url,
        HttpTransport(timeout=TIMEOUT, limits=LIMITS) as transport,
    ):
        for _ in range(3):
            response = await send(transport, url)
            assert response.json() == {"n": 1}
            await asyncio.sleep(0.05)  # the close reaches us while the connection is idle


@pytest.mark.parametrize(("method", "retried"), [("GET", True), ("POST", False)])
async def test_a_stale_connection_that_closes_as_we_send_is_retried_once(
    method: str, retried: bool
) -> None:
    """A kept-alive connection dropped without a word: a GET goes again on a new one, a POST not."""
    body = b'{"n": 1}'
    seen = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal seen
        seen += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(ok(body) + body)  # says keep-alive ...
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")  # ... but drops the next request unanswered
        writer.close()

    async with raw_server(handler) as url, HttpTransport(timeout=TIMEOUT, limits=LIMITS) as t:
        assert (await send(t, url)).json() == {"n": 1}
        second = t.handle_async_request(httpx.Request(method, url))
        if retried:
            assert (await second).status_code == 200
        else:
            with pytest.raises(httpx.ReadError):
                await second
    assert seen == (2 if retried else 1)


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),  # raw, as some send
    ],
)
async def test_compressed_bodies_are_decoded_once(
    encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    """gzip and deflate are inflated here, and httpx does not try a second time."""
    body = compress(b'{"ok": true}')
    async with (
        raw_server(answering(ok(body, f"Content-Encoding: {encoding}"), body)) as url,
        HttpTransport(timeout=TIMEOUT, limits=LIMITS) as transport,
    ):
        response = await send(transport, url)
    assert response.json() == {"ok": True}
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize(("encoding", "body"), [("br", b"\x1b\x00"), ("gzip", b"not gzip at all")])
async def test_unknown_or_broken_encodings_are_decoding_errors(encoding: str, body: bytes) -> None:
    """A Content-Encoding we cannot undo is httpx.DecodingError, not garbage or a crash."""
    async with (
        raw_server(answering(ok(body, f"Content-Encoding: {encoding}"), body)) as url,
        HttpTransport(timeout=TIMEOUT, limits=LIMITS) as transport,
    ):
        with pytest.raises(httpx.DecodingError):
            await send(transport, url)


async def test_bodies_past_the_limit_are_refused_raw_and_inflated() -> None:
    """Over `max_body_bytes` as sent, or once inflated: ResponseTooLarge, and nothing kept."""
    big = b"x" * 5000
    bomb = gzip.compress(b"0" * 100_000)
    async with (
        raw_server(answering(ok(big), big)) as raw_url,
        raw_server(answering(ok(bomb, "Content-Encoding: gzip"), bomb)) as bomb_url,
        raw_server(answering(ok(b"[]"), b"[]")) as fine_url,
        HttpTransport(timeout=TIMEOUT, limits=LIMITS, max_body_bytes=4096) as transport,
    ):
        assert len(bomb) < 4096
        for url in (raw_url, bomb_url):
            with pytest.raises(ResponseTooLarge):
                await send(transport, url)
        assert (await send(transport, fine_url)).json() == []  # the pool is fine afterwards


async def test_crlf_in_a_header_is_refused_before_sending() -> None:
    """A header value with a line break would smuggle another header: refused, nothing sent."""
    requests = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        requests += 1
        writer.close()

    async with raw_server(handler) as url, HttpTransport(timeout=TIMEOUT, limits=LIMITS) as t:
        request = httpx.Request("GET", url, headers={"x-name": "a\r\nx-evil: 1"})
        with pytest.raises(httpx.LocalProtocolError):
            await t.handle_async_request(request)
    assert requests == 0


async def test_https_with_a_trusted_certificate() -> None:
    """TLS works (SNI and verification against the given context), and bad trust fails."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    body = b'{"tls": true}'
    async with raw_server(answering(ok(body), body, close=False), ssl=server_context) as url:
        https = url.replace("http://127.0.0.1", "https://localhost")
        async with HttpTransport(
            timeout=TIMEOUT, limits=LIMITS, ssl_context=client_context
        ) as transport:
            assert (await send(transport, https)).json() == {"tls": True}
        async with HttpTransport(timeout=TIMEOUT, limits=LIMITS) as untrusting:  # system CAs
            with pytest.raises(httpx.ConnectError):
                await send(untrusting, https)
