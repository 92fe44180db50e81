"""The production transport under httpx: keep-alive HTTP/1.1 connections on asyncio + httptools.

httpx stays the API (requests and responses are `httpx` objects, and tests hand in
`httpx.MockTransport` with a respx router), but its default pool, httpcore 1.0.9, spends several
ms of CPU per request at 64 concurrent requests on pool bookkeeping, and aiohttp's pool under
httpx still cost ~0.35 ms. Our upstream calls are small GETs answered by small JSON bodies, so
this pool does only that, on the event loop's own protocol callbacks and the C parser uvicorn
already uses: docs/benchmarks.md, "Upstream client" has the measurements.

What it guarantees:
- every failure is an httpx error: `ConnectError`/`ConnectTimeout`, `ReadTimeout` (no byte for
  `timeout.read` s), `ReadError` (reset, or closed before the answer was complete),
  `RemoteProtocolError` (not HTTP), `PoolTimeout`, `DecodingError` (an unknown or broken
  Content-Encoding) and `ResponseTooLarge`;
- a body is never held, raw or inflated, beyond `max_body_bytes`: a huge answer or a gzip bomb
  costs that much memory at most;
- gzip and deflate bodies are inflated here (within the limit) and handed to httpx without their
  Content-Encoding, so that httpx does not inflate them again;
- a kept-alive connection the server closed while idle is replaced once, transparently.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque

import certifi
import httptools
import httpx

from weather_api.config import Settings

MAX_BODY_BYTES = 1 << 20
"""Default cap on an upstream body, before and after inflating: our answers are a few KiB."""

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_FRAMING = (b"content-length", b"transfer-encoding")
_ENCODED = (b"content-encoding", b"content-length")
_WBITS = {b"gzip": 16 + zlib.MAX_WBITS, b"x-gzip": 16 + zlib.MAX_WBITS, b"deflate": zlib.MAX_WBITS}


class ResponseTooLarge(httpx.HTTPError):
    """The upstream's body, raw or inflated, is larger than the transport accepts."""

    def __init__(self, message: str, *, request: httpx.Request) -> None:
        super().__init__(message)
        self.request = request


class _Failure(Exception):
    """A connection's failure, with whether the request may be sent again on a new one."""

    def __init__(self, error: type[httpx.TransportError], message: str, *, unused: bool) -> None:
        super().__init__(message)
        self.error = error
        self.unused = unused  # nothing was received: the server closed an idle connection


class _TooLarge(Exception):
    """The raw body passed the limit while it arrived."""


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: sends a request, parses its answer, then waits to be reused."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_body_bytes: int) -> None:
        self._loop = loop
        self._max_body_bytes = max_body_bytes
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._received = False
        self._until_close = False
        self._keep_alive = False
        self._too_large = False
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a stream transport

    def data_received(self, data: bytes) -> None:
        self._received = True
        self._last_read = self._loop.time()
        if self._waiter is None:  # bytes nobody asked for: do not trust this connection again
            self.close()
            return
        try:
            self._parser.feed_data(data)
            if self._too_large:
                self._fail(_TooLarge())
        except httptools.HttpParserError as exc:
            self._fail(
                _Failure(
                    httpx.RemoteProtocolError, f"the answer is not HTTP/1.1: {exc}", unused=False
                )
            )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if exc is None and self._until_close and not self._too_large:
            # Without Content-Length or chunked framing, the body ends with the connection.
            waiter.set_result(None)
            return
        reason = "was reset" if exc is not None else "was closed"
        message = f"the upstream connection {reason} before the answer was complete"
        self._fail(_Failure(httpx.ReadError, message, unused=not self._received))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        framed = any(name.lower() in _FRAMING for name, _ in self._headers)
        self._until_close = not framed
        self._keep_alive = self._parser.should_keep_alive() and framed

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._max_body_bytes:
            self._too_large = True
            self._body.clear()
        else:
            self._body.append(body)

    def on_message_complete(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done() and not self._too_large:
            waiter.set_result(None)

    # used by the pool

    async def exchange(
        self, head: bytes, read_timeout: float | None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Send one request; its status, headers and raw body once all of it arrived."""
        if self._transport is None:  # pragma: no cover - connect returns made connections only
            raise RuntimeError("not connected")
        self._waiter = waiter = self._loop.create_future()
        self._headers, self._body, self._size, self._received = [], [], 0, False
        self._until_close = self._keep_alive = self._too_large = False
        self._last_read = self._loop.time()
        self._transport.write(head)
        if read_timeout is not None:
            self._arm(waiter, read_timeout)
        try:
            await waiter
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._waiter = None
        return self._parser.get_status_code(), self._headers, b"".join(self._body)

    @property
    def reusable(self) -> bool:
        """Open, and the last answer allowed another request on this connection."""
        return self._keep_alive and not self.closed

    def close(self) -> None:
        """Close the socket; an answer in progress fails."""
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def _arm(self, waiter: asyncio.Future[None], read_timeout: float) -> None:
        # One timer per request, not one per read: when it fires after bytes have arrived,
        # it waits out the rest of the quiet time instead.
        def check() -> None:
            if waiter.done():
                return
            quiet = self._loop.time() - self._last_read
            if quiet < read_timeout:
                self._timer = self._loop.call_later(read_timeout - quiet, check)
                return
            message = f"the upstream sent nothing for {read_timeout:g} s"
            self._fail(_Failure(httpx.ReadTimeout, message, unused=False))

        self._timer = self._loop.call_later(read_timeout, check)

    def _fail(self, failure: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(failure)
        self.close()


class HttpTransport(httpx.AsyncBaseTransport):
    """A pool of keep-alive HTTP/1.1 connections per origin, for small request/response pairs.

    Requests are sent as httpx built them (its headers include Host); bodies are whole bytes.
    At most `limits.max_connections` requests are in flight, and at most
    `limits.max_keepalive_connections` idle connections are kept, for `limits.keepalive_expiry`.
    """

    def __init__(
        self,
        *,
        timeout: httpx.Timeout,
        limits: httpx.Limits,
        max_body_bytes: int = MAX_BODY_BYTES,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._timeout = timeout
        self._max_body_bytes = max_body_bytes
        self._ssl_context = ssl_context
        self._max_idle = limits.max_keepalive_connections
        self._expiry = limits.keepalive_expiry
        self._slots = asyncio.Semaphore(limits.max_connections) if limits.max_connections else None
        self._idle: dict[tuple[bytes, bytes, int], deque[_Connection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` and return its whole answer; failures are httpx exceptions."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        slots = self._slots
        if slots is not None:
            if slots.locked():
                try:
                    async with asyncio.timeout(self._timeout.pool):
                        await slots.acquire()
                except TimeoutError:
                    raise httpx.PoolTimeout(
                        "no upstream connection became free in time", request=request
                    ) from None
            else:
                await slots.acquire()
        try:
            status, headers, body = await self._exchange(request)
        finally:
            if slots is not None:
                slots.release()
        for name, value in headers:
            if name.lower() == b"content-encoding":
                body = self._inflate(value, body, request)
                headers = [(n, v) for n, v in headers if n.lower() not in _ENCODED]
                break
        response = httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(body),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )
        # The body is whole and already decoded: mark it read, as `aread()` would after
        # passing it through httpx's (identity) decoder chain, which costs ~30 us a response.
        # `_content` is where httpx 0.28 keeps it; tests/test_transport.py reads every answer
        # through `aread()` and `.json()`.
        response._content = body
        response.is_stream_consumed = response.is_closed = True
        return response

    async def aclose(self) -> None:
        """Close the idle connections; busy ones close when their answer is in."""
        self._closed = True
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()

    async def _exchange(
        self, request: httpx.Request
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port or (443 if url.scheme == "https" else 80))
        fields = request.headers.raw
        head = b"".join(
            [
                request.method.encode(),
                b" ",
                url.raw_path,
                b" HTTP/1.1\r\n",
                *[b"%s: %s\r\n" % pair for pair in fields],
                b"\r\n",
            ]
        )
        # One line per header and no more: a CR or LF inside a value would start another.
        if head.count(b"\n") != len(fields) + 2 or head.count(b"\r") != len(fields) + 2:
            raise httpx.LocalProtocolError(
                "CR or LF inside the request line or a header", request=request
            )
        if request.content:
            head += request.content
        loop = asyncio.get_running_loop()
        while True:
            connection = self._idle_connection(origin, loop)
            reused = connection is not None
            if connection is None:
                connection = await self._connect(origin, request, loop)
            try:
                status, headers, body = await connection.exchange(head, self._timeout.read)
            except _Failure as failure:
                # A server may close an idle connection just as we reuse it: try a new one,
                # when sending the request twice can do no harm.
                if reused and failure.unused and request.method in _IDEMPOTENT:
                    continue
                raise failure.error(str(failure), request=request) from None
            except _TooLarge:
                raise ResponseTooLarge(
                    f"the upstream's body is larger than {self._max_body_bytes} bytes",
                    request=request,
                ) from None
            except BaseException:  # cancelled mid-answer: the connection is in an unknown state
                connection.close()
                raise
            self._release(origin, connection, loop)
            return status, headers, body

    def _idle_connection(
        self, origin: tuple[bytes, bytes, int], loop: asyncio.AbstractEventLoop
    ) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to be stale
            if connection.closed:
                continue
            if loop.time() - connection.idle_since > self._expiry_seconds():
                connection.close()
                continue
            return connection
        return None

    async def _connect(
        self,
        origin: tuple[bytes, bytes, int],
        request: httpx.Request,
        loop: asyncio.AbstractEventLoop,
    ) -> _Connection:
        scheme, host, port = origin
        tls = self._tls() if scheme == b"https" else None
        try:
            async with asyncio.timeout(self._timeout.connect):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop, self._max_body_bytes),
                    host.decode("ascii"),
                    port,
                    ssl=tls,
                    server_hostname=host.decode("ascii") if tls else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(
                f"no connection to the upstream within {self._timeout.connect:g} s",
                request=request,
            ) from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(
                f"cannot connect to the upstream: {exc.strerror or exc}", request=request
            ) from None
        return connection

    def _release(
        self,
        origin: tuple[bytes, bytes, int],
        connection: _Connection,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        if self._closed or not connection.reusable or self._max_idle == 0:
            connection.close()
            return
        idle = self._idle.get(origin)
        if idle is None:
            idle = self._idle[origin] = deque()
        now = connection.idle_since = loop.time()
        idle.append(connection)
        # The oldest are at the left: drop those past their time, and any beyond the limit.
        expiry = self._expiry_seconds()
        while idle and (
            idle[0].closed
            or now - idle[0].idle_since > expiry
            or (self._max_idle is not None and len(idle) > self._max_idle)
        ):
            idle.popleft().close()

    def _expiry_seconds(self) -> float:
        return float("inf") if self._expiry is None else self._expiry

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context(cafile=certifi.where())
            self._ssl_context.set_alpn_protocols(["http/1.1"])
        return self._ssl_context

    def _inflate(self, encoding: bytes, body: bytes, request: httpx.Request) -> bytes:
        """The body without its Content-Encoding, refused past `max_body_bytes` inflated."""
        name = encoding.strip().lower()
        if name in (b"", b"identity"):
            return body
        wbits = _WBITS.get(name)
        if wbits is None:
            raise httpx.DecodingError(
                f"unsupported Content-Encoding {encoding.decode('latin-1')!r}", request=request
            )
        limit = self._max_body_bytes
        inflater = zlib.decompressobj(wbits)
        try:
            try:
                data = inflater.decompress(body, limit + 1)
            except zlib.error:
                if name != b"deflate":
                    raise
                # "deflate" is meant to be zlib-wrapped, but some servers send it raw.
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                data = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            raise httpx.DecodingError(
                f"the upstream's body is not valid {name.decode('latin-1')}: {exc}",
                request=request,
            ) from None
        if len(data) > limit or inflater.unconsumed_tail:
            raise ResponseTooLarge(
                f"the upstream's body inflates to more than {limit} bytes", request=request
            )
        return data


def build_transport(settings: Settings) -> httpx.AsyncBaseTransport:
    """The process's one upstream connection pool, with the settings' timeouts and size."""
    return HttpTransport(
        timeout=httpx.Timeout(settings.upstream_timeout, connect=settings.connect_timeout),
        limits=httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=settings.max_keepalive_connections,
            keepalive_expiry=30.0,
        ),
    )
