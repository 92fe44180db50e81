"""The upstream client: aiohttp's session under httpx's transport interface.

Answers, reuse, limits, the body cap, TLS trust, and each aiohttp error as its httpx error.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import trustme

from tests.conftest import free_port, make_settings
from weather_api.providers.aiohttp_transport import (
    ERRORS,
    AiohttpTransport,
    ResponseTooLarge,
    client_session,
)
from weather_api.stub import StubServer

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def transport(
    *, max_connections: int = 10, pool_timeout: float = 2.0, read: float = 2.0, **kwargs: Any
) -> AiohttpTransport:
    """The production adapter and session, with this test's limits."""
    settings = make_settings(
        max_connections=max_connections, upstream_timeout=read, connect_timeout=1.0
    )
    return AiohttpTransport(
        client_session(settings),
        max_connections=max_connections,
        pool_timeout=pool_timeout,
        **kwargs,
    )


async def send(client: AiohttpTransport, url: str, method: str = "GET") -> httpx.Response:
    response = await client.handle_async_request(httpx.Request(method, url))
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
    async with transport() as client:
        for _ in range(10):
            response = await send(client, f"{stub.url}/data/2.5/weather?q=Oslo,NO&appid=k")
            assert response.status_code == 200
            assert response.json()["name"] == "Oslo"
    assert stub.stats.snapshot()["connections_total"] == 1


async def test_concurrent_requests_stay_within_max_connections(stub: StubServer) -> None:
    """Forty requests at once over a pool of four: all answered, never more than four sockets."""
    stub.config.update({"latency_ms": 20})
    async with transport(max_connections=4) as client:
        url = f"{stub.url}/data/2.5/weather?q=Oslo,NO&appid=k"
        responses = await asyncio.gather(*(send(client, url) for _ in range(40)))
    assert {response.status_code for response in responses} == {200}
    assert stub.stats.snapshot()["connections_total"] == 4


async def test_a_full_pool_times_out_as_pool_timeout(stub: StubServer) -> None:
    """A request that finds every connection busy past the pool timeout: httpx.PoolTimeout."""
    stub.config.update({"latency_ms": 500})
    async with transport(max_connections=1, pool_timeout=0.1) as client:
        url = f"{stub.url}/data/2.5/weather?q=Oslo,NO&appid=k"
        first = asyncio.create_task(send(client, url))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.PoolTimeout):
            await send(client, url)
        assert (await first).status_code == 200


@pytest.mark.parametrize(
    ("fault", "errors"),
    [
        ({"reset_rate": 1.0}, (httpx.ReadError, httpx.RemoteProtocolError)),
        ({"truncate_rate": 1.0}, (httpx.RemoteProtocolError,)),
        ({"stall_ms": 3000}, (httpx.ReadTimeout,)),
    ],
)
async def test_wire_failures_become_httpx_errors(
    stub: StubServer, fault: dict[str, float], errors: tuple[type[Exception], ...]
) -> None:
    """A reset or a cut body is a read/protocol error, a stall a read timeout: never "connect"."""
    stub.config.update(fault)
    async with transport(read=0.3) as client:
        with pytest.raises(httpx.TransportError) as caught:
            await send(client, f"{stub.url}/data/2.5/weather?q=Oslo,NO&appid=k")
    assert isinstance(caught.value, errors), repr(caught.value)


async def test_a_slow_but_steady_body_is_not_a_read_timeout(stub: StubServer) -> None:
    """The read timeout counts silence, not the whole answer: a drip faster than it succeeds."""
    stub.config.update({"drip_ms": 40})  # 32 bytes every 40 ms: the answer takes well over 0.3 s
    async with transport(read=0.3) as client:
        started = asyncio.get_running_loop().time()
        response = await send(client, f"{stub.url}/data/2.5/weather?q=Oslo,NO&appid=k")
        elapsed = asyncio.get_running_loop().time() - started
    assert response.json()["name"] == "Oslo"
    assert elapsed > 0.3


async def test_refused_connection_is_connect_error() -> None:
    """Nothing listening: httpx.ConnectError."""
    async with transport() as client:
        with pytest.raises(httpx.ConnectError):
            await send(client, f"http://127.0.0.1:{free_port()}/")


async def test_a_name_that_does_not_resolve_is_connect_error() -> None:
    """DNS knows no such host: httpx.ConnectError (aiohttp's ClientConnectorDNSError)."""
    async with transport() as client:
        with pytest.raises(httpx.ConnectError) as caught:
            await send(client, "http://weather.invalid/")
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorDNSError)


async def test_a_stalled_tls_handshake_is_connect_timeout() -> None:
    """A server that accepts TCP but never answers the TLS hello: httpx.ConnectTimeout."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async with raw_server(silent) as url, transport() as client:
        with pytest.raises(httpx.ConnectTimeout):
            await send(client, url.replace("http://", "https://"))


async def test_not_http_is_an_answer_we_cannot_read() -> None:
    """An answer that is not HTTP/1.1: httpx.DecodingError (another try reads the same)."""
    async with (
        raw_server(answering(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")) as url,
        transport() as client,
    ):
        with pytest.raises(httpx.DecodingError):
            await send(client, url)


async def test_a_body_that_ends_with_the_connection_is_read_whole() -> None:
    """No Content-Length and no chunking: the body is everything until the server closes."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
    async with raw_server(answering(head, b'{"ok": true}')) as url, transport() as client:
        assert (await send(client, url)).json() == {"ok": True}


async def test_chunked_bodies_are_joined() -> None:
    """A chunked answer arrives as one body, and the connection is reused after it."""
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b'5\r\n{"ok"\r\n7\r\n: true}\r\n0\r\n\r\n'
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await answering(head, body, close=False)(reader, writer)

    async with raw_server(handler) as url, transport() as client:
        for _ in range(3):
            assert (await send(client, url)).json() == {"ok": True}
    assert connections == 1


async def test_a_connection_closed_while_idle_is_replaced() -> None:
    """The server closes each connection after its answer, as HTTP allows: no error shows."""
    body = b'{"n": 1}'
    async with raw_server(answering(ok(body), body, close=True)) as url, transport() as client:
        for _ in range(3):
            response = await send(client, url)
            assert response.json() == {"n": 1}
            await asyncio.sleep(0.05)  # the close reaches us while the connection is idle


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_stale_connection_that_closes_as_we_send_is_not_sent_again(method: str) -> None:
    """A kept-alive connection dropped without a word: the request is not sent a second time.

    aiohttp would send a GET again on its own; each attempt is the caller's to count and budget
    (tests/providers/test_one_count_of_gets.py).
    """
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

    async with raw_server(handler) as url, transport() as client:
        assert (await send(client, url)).json() == {"n": 1}
        with pytest.raises(httpx.RemoteProtocolError):
            await send(client, url, method)
    assert seen == 1


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
    """gzip and deflate are inflated by aiohttp, and httpx does not try a second time."""
    body = compress(b'{"ok": true}')
    async with (
        raw_server(answering(ok(body, f"Content-Encoding: {encoding}"), body)) as url,
        transport() as client,
    ):
        response = await send(client, url)
    assert response.json() == {"ok": True}
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize(
    ("encoding", "body"), [("br", b"\x1b\x00"), ("x-unknown", b"{}"), ("gzip", b"not gzip")]
)
async def test_unknown_or_broken_encodings_are_decoding_errors(encoding: str, body: bytes) -> None:
    """A Content-Encoding we did not ask for or cannot undo is httpx.DecodingError."""
    async with (
        raw_server(answering(ok(body, f"Content-Encoding: {encoding}"), body)) as url,
        transport() as client,
    ):
        with pytest.raises(httpx.DecodingError):
            await send(client, url)


async def test_bodies_past_the_limit_are_refused_raw_and_inflated() -> None:
    """Past the cap as sent (declared or not) or once inflated: ResponseTooLarge, pool fine.

    The gzip bombs are smaller than the cap as sent, one with its Content-Length and one
    chunked without: only counting the inflated bytes refuses them.
    """
    limit = 65_536
    big = b"x" * (limit + 1)
    unframed = b"HTTP/1.1 200 OK\r\n\r\n"  # no Content-Length: the body ends with the connection
    bomb = gzip.compress(b"0" * 10_000_000)  # 10 MB inflated from ~10 KB
    assert len(bomb) < limit
    chunked_head = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    pieces = [bomb[at : at + 4096] for at in range(0, len(bomb), 4096)]
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
    arrived = 0

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal arrived
        await reader.readuntil(b"\r\n\r\n")
        writer.write(unframed)
        try:
            while arrived < 10_000_000:  # stops once the client hangs up
                writer.write(b"y" * 1024)
                arrived += 1024
                await writer.drain()
        except ConnectionError:
            pass

    async with (
        raw_server(answering(ok(big), big)) as declared_url,
        raw_server(endless) as endless_url,
        raw_server(answering(ok(bomb, "Content-Encoding: gzip"), bomb)) as bomb_url,
        raw_server(answering(chunked_head, chunks)) as chunked_bomb_url,
        raw_server(answering(ok(b"[]"), b"[]")) as fine_url,
        transport(max_body_bytes=limit) as client,
    ):
        # The declared size is refused before reading; the others by the count as they arrive.
        for url, refusal in (
            (declared_url, f"is {limit + 1} bytes, more than {limit}"),
            (endless_url, f"larger than {limit} bytes"),
            (bomb_url, f"larger than {limit} bytes"),
            (chunked_bomb_url, f"larger than {limit} bytes"),
        ):
            with pytest.raises(ResponseTooLarge, match=refusal):
                await send(client, url)
        assert (await send(client, fine_url)).json() == []  # the pool is fine afterwards
    assert arrived < 10_000_000  # refused while it arrived, not after


async def test_https_trusts_ssl_cert_file_and_ssl_cert_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A private CA named by SSL_CERT_FILE or SSL_CERT_DIR is trusted; without it, ConnectError."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ca_dir = tmp_path / "certs"
    ca_dir.mkdir()
    (ca_dir / "ca.pem").write_bytes(ca_file.read_bytes())
    rehash = await asyncio.create_subprocess_exec("openssl", "rehash", str(ca_dir))
    assert await rehash.wait() == 0
    body = b'{"tls": true}'
    async with raw_server(answering(ok(body), body, close=False), ssl=server_context) as url:
        https = url.replace("http://127.0.0.1", "https://localhost")
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        async with transport() as untrusting:  # the system's CAs only
            with pytest.raises(httpx.ConnectError) as caught:
                await send(untrusting, https)
        assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorCertificateError)
        for name, value in (("SSL_CERT_FILE", ca_file), ("SSL_CERT_DIR", ca_dir)):
            with monkeypatch.context() as env:
                env.setenv(name, str(value))
                async with transport() as trusting:  # the session reads them when it is made
                    assert (await send(trusting, https)).json() == {"tls": True}


class _Failing:
    """A stand-in session whose every request fails with one aiohttp error."""

    def __init__(self, error: aiohttp.ClientError) -> None:
        self.error = error

    def request(self, *args: object, **kwargs: object) -> Any:
        raise self.error

    async def close(self) -> None:
        pass


# The errors the wire tests cannot easily provoke, and what each must become.
RAISED: list[tuple[aiohttp.ClientError, type[httpx.TransportError]]] = [
    (aiohttp.ConnectionTimeoutError(), httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError(), httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError(), httpx.TimeoutException),
    (aiohttp.ServerFingerprintMismatch(b"a", b"b", "h", 443), httpx.ConnectError),
    (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError("cut short"), httpx.RemoteProtocolError),
    (aiohttp.ClientConnectionResetError("closing transport"), httpx.WriteError),
    (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
    (aiohttp.ClientConnectionError("lost"), httpx.NetworkError),
    (aiohttp.NonHttpUrlClientError("ftp://x"), httpx.UnsupportedProtocol),
    (aiohttp.InvalidURL("http://[x"), httpx.TransportError),
]


@pytest.mark.parametrize(("error", "expected"), RAISED)
async def test_each_aiohttp_error_becomes_its_httpx_error(
    error: aiohttp.ClientError, expected: type[httpx.HTTPError]
) -> None:
    """The errors the wire tests cannot easily provoke map as the table says, cause kept."""
    client = AiohttpTransport(_Failing(error), max_connections=1, pool_timeout=1)  # type: ignore[arg-type]
    with pytest.raises(expected) as caught:
        await send(client, "http://upstream.test/")
    assert type(caught.value) is expected
    assert caught.value.__cause__ is error


async def test_error_messages_leave_the_query_out() -> None:
    """aiohttp names the URL in some errors; the httpx error keeps it without the query (keys)."""
    error = aiohttp.ConnectionTimeoutError(
        "Connection timeout to host http://u.test/w?appid=SECRET"
    )
    client = AiohttpTransport(_Failing(error), max_connections=1, pool_timeout=1)  # type: ignore[arg-type]
    with pytest.raises(httpx.ConnectTimeout) as caught:
        await send(client, "http://u.test/w?appid=SECRET")
    assert "SECRET" not in str(caught.value)
    assert "http://u.test/w?(query)" in str(caught.value)


Upstream = Callable[[pytest.MonkeyPatch], AbstractAsyncContextManager[str]]


@asynccontextmanager
async def nothing_listening(env: pytest.MonkeyPatch) -> AsyncIterator[str]:
    yield f"http://127.0.0.1:{free_port()}/"


@asynccontextmanager
async def not_http(env: pytest.MonkeyPatch) -> AsyncIterator[str]:
    async with raw_server(answering(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")) as url:
        yield url


@asynccontextmanager
async def proxy_not_there(env: pytest.MonkeyPatch) -> AsyncIterator[str]:
    env.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    yield "http://upstream.test/"


@asynccontextmanager
async def proxy_refusing_connect(env: pytest.MonkeyPatch) -> AsyncIterator[str]:
    refusal = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"
    async with raw_server(answering(refusal)) as proxy:
        env.setenv("HTTPS_PROXY", proxy)
        yield "https://upstream.test/"


@dataclass(frozen=True)
class OnTheWire:
    """An upstream (or proxy) on 127.0.0.1 that makes aiohttp raise `raised`, and the httpx
    error it must become."""

    upstream: Upstream
    raised: type[aiohttp.ClientError]
    expected: type[httpx.RequestError]


ON_THE_WIRE = {
    "refused": OnTheWire(nothing_listening, aiohttp.ClientConnectorError, httpx.ConnectError),
    "not HTTP": OnTheWire(not_http, aiohttp.ClientResponseError, httpx.DecodingError),
    "proxy not there": OnTheWire(
        proxy_not_there, aiohttp.ClientProxyConnectionError, httpx.ProxyError
    ),
    "proxy refuses CONNECT": OnTheWire(
        proxy_refusing_connect, aiohttp.ClientHttpProxyError, httpx.ProxyError
    ),
}


@pytest.mark.parametrize("case", ON_THE_WIRE.values(), ids=ON_THE_WIRE.keys())
async def test_each_error_on_the_wire_becomes_its_httpx_error(
    case: OnTheWire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What aiohttp raises for a real socket's failure is the row's httpx error, cause kept."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    async with case.upstream(monkeypatch) as url, transport() as client:
        with pytest.raises(httpx.RequestError) as caught:
            await send(client, url)
    assert type(caught.value) is case.expected, repr(caught.value)
    assert type(caught.value.__cause__) is case.raised, repr(caught.value.__cause__)


def test_every_row_of_the_error_table_is_tested() -> None:
    """Each row of `ERRORS` is the most specific match (by MRO, as the adapter picks) for an
    error that a test above raises (RAISED, ON_THE_WIRE), and that test expects the row's httpx
    error: no row is untested or dead."""
    rows = dict(ERRORS)

    def row_of(raised: type[aiohttp.ClientError]) -> tuple[type[Any], type[Any]]:
        kind = next(cls for cls in raised.__mro__ if cls in rows)
        return kind, rows[kind]

    tested = [(type(error), expected) for error, expected in RAISED] + [
        (case.raised, case.expected) for case in ON_THE_WIRE.values()
    ]
    for raised, expected in tested:
        assert row_of(raised)[1] is expected, (raised, expected)
    assert [row for row in ERRORS if row not in {row_of(raised) for raised, _ in tested}] == []
