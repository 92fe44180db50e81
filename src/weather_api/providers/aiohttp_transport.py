"""httpx's transport interface over aiohttp's `ClientSession`: the service's upstream HTTP client.

aiohttp does the protocol work (pooling, keep-alive, DNS cache, Happy Eyeballs, TLS, gzip and
deflate, proxies from the environment); httpx's types stay at the provider boundary, so that
providers read `httpx.Response`s and tests hand in `httpx.MockTransport(respx_router.async_handler)`
instead. Only public API of both libraries is used, but for one read of aiohttp's
`ResponseHandler.should_close` (`CleanConnector`): hence aiohttp's upper bound in pyproject.toml.

What the adapter adds:
- every failure is an httpx exception (`ERRORS` holds the table; the most specific row wins),
  and an answer we cannot read (malformed head, framing or chunking, an encoding we did not
  ask for, a body past the cap) is an `httpx.DecodingError`, never a transport error;
- a request goes out once per call: aiohttp's own second send of an idempotent request after
  `ClientOSError`/`ServerDisconnectedError` is off (`_send_once`), so every GET the upstream
  reads is one attempt that the caller counts and budgets;
- a body is never held, as sent or inflated, beyond `max_body_bytes`: a Content-Length past it
  is refused before reading, and the inflated bytes are counted while they arrive (aiohttp
  inflates in bounded steps), so a flood or a gzip bomb costs that much memory at most;
- a pool timeout: a request that waits longer than `pool_timeout` for one of the
  `max_connections` slots fails with `httpx.PoolTimeout` (aiohttp would count that wait as
  connecting);
- the proxy from the environment, looked up once per upstream host (`env_proxy`) by each
  transport, that is from the app's start;
- no pooled connection is used again once bytes nobody asked for have arrived on it
  (`CleanConnector`): an upstream or a middlebox that sends a second answer, in the same packet
  or later while the connection sits idle, cannot make it the answer to the next request.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import ssl
import urllib.request
from functools import lru_cache
from typing import NoReturn

import aiohttp
import httpx
from aiohttp.http_exceptions import ContentEncodingError
from aiohttp.tracing import Trace
from yarl import URL

from weather_api.config import Settings
from weather_api.providers.proxies import proxy_url

CLOSE_CONNECTION = "close_connection"
"""The response extension that closes the connection the answer came on (a no-op without one)."""
MAX_BODY_BYTES = 1 << 20
"""Default cap on an upstream body, as sent and inflated: our answers are a few KiB."""
KEEPALIVE_EXPIRY = 30.0
"""Seconds an idle upstream connection is kept for reuse."""

# We ask for these, and aiohttp inflates them; any other Content-Encoding is refused.
ACCEPT_ENCODING = "gzip, deflate"
_INFLATED = frozenset({"", "identity", "gzip", "deflate"})
# httpx computes these for the whole, already inflated body it is handed.
_DROPPED_HEADERS = frozenset({b"content-encoding", b"content-length"})


class ResponseTooLarge(httpx.DecodingError):
    """The upstream's body, as sent or inflated, is larger than the transport accepts.

    An `httpx.DecodingError`, as every answer we cannot read is: callers catch httpx's classes,
    never this one.
    """


class _NotSentAgain(aiohttp.ClientConnectionError):
    """Carries (as its cause) a failure that aiohttp would otherwise answer by sending again."""


def env_proxy(scheme: str, host: str) -> str | None:
    """The proxy for `scheme://host` from HTTP_PROXY/HTTPS_PROXY/NO_PROXY (either case), or None.

    A proxy without a scheme is an http:// one (`proxies.proxy_url`).

    What aiohttp's `trust_env=True` looks up, with the same standard-library functions; the
    transport asks once per host. aiohttp asks (and reads netrc) in a worker thread on every
    request: CPU on every cache miss and a thread wake-up in its latency (measured in
    docs/benchmarks.md, "Upstream client"), for an environment that does not change.
    """
    if urllib.request.proxy_bypass(host):
        return None
    proxy = urllib.request.getproxies().get(scheme)
    return None if not proxy else proxy_url(proxy)


# The socket the current task's request went out on (set by CleanConnector, in the same task).
_SOCKET: contextvars.ContextVar[asyncio.Transport | None] = contextvars.ContextVar(
    "upstream_socket", default=None
)


class CleanConnector(aiohttp.TCPConnector):
    """A `TCPConnector` that never hands out a pooled connection with an answer already on it.

    aiohttp reuses an idle connection when it is open and young (aio-libs/aiohttp#13656): an
    answer that arrived while it sat in the pool would be read as the next request's. aiohttp's
    own `should_close` is true once a connection holds bytes past its last answer (a parsed
    message, an unread body or an unparsed tail); such a connection is closed here and the
    request goes on another one. An answer that arrives only after our request has gone out
    cannot be told from the real one by any HTTP/1.1 client: the providers check answers
    against their question for that (docs/architecture.md, "Misbehaving upstreams").

    `connect` is public API; `ResponseHandler.should_close` is an internal one, so aiohttp has
    an upper bound in pyproject.toml and tests/providers/test_unsolicited_answers.py names it.
    """

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's signature, overridden
    ) -> aiohttp.connector.Connection:
        """A connection from the pool with nothing pending on it, or a new one."""
        # Each discard empties one pooled slot, so after `limit` of them the pool is empty and
        # the next connection is new; one that an upstream speaks on first is its to explain.
        for _ in range(self.limit):
            connection = await super().connect(req, traces, timeout)
            protocol = connection.protocol
            if protocol is None or not protocol.should_close:
                break
            connection.close()
        else:
            connection = await super().connect(req, traces, timeout)
        _SOCKET.set(connection.transport)
        return connection


def client_session(
    settings: Settings, *, resolver: aiohttp.abc.AbstractResolver | None = None
) -> aiohttp.ClientSession:
    """An aiohttp session with the settings' timeouts and pool limits.

    Proxies come from the environment through `env_proxy`, once per upstream host. The SSL
    context is made here, so SSL_CERT_FILE and SSL_CERT_DIR are read when the app starts.
    `resolver` replaces aiohttp's default one (tests hand in one that stalls).
    """
    # aiohttp keeps any idle connection up to `limit`; 0 idle connections means none (and
    # aiohttp refuses a keep-alive expiry beside force_close).
    force_close = settings.max_keepalive_connections == 0
    connector = CleanConnector(
        resolver=resolver,
        limit=settings.max_connections,
        limit_per_host=0,
        keepalive_timeout=None if force_close else KEEPALIVE_EXPIRY,
        force_close=force_close,
        ssl=ssl.create_default_context(),
    )
    return aiohttp.ClientSession(
        connector=connector,
        trust_env=False,  # see env_proxy
        timeout=aiohttp.ClientTimeout(
            total=None,
            # DNS, TCP, TLS and a proxy's CONNECT answer, all in one bound. The wait for a pool
            # slot is ours (PoolTimeout), before aiohttp is asked: it never waits for one here.
            connect=settings.connect_timeout,
            sock_connect=settings.connect_timeout,
            sock_read=settings.upstream_timeout,
        ),
        cookie_jar=aiohttp.DummyCookieJar(),  # an upstream's cookies mean nothing to us
        raise_for_status=False,
        middlewares=(_send_once,),
    )


async def _send_once(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """Turn the failures aiohttp sends a GET again after into one it does not.

    aiohttp re-sends an idempotent request once after `ClientOSError` or
    `ServerDisconnectedError`, on fresh connections too: one attempt of ours became two GETs at
    the upstream, uncounted. Each attempt is ours to count and to budget (`--retry-attempts`).
    """
    try:
        return await handler(request)
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
        raise _NotSentAgain(str(exc)) from exc


def _nothing_to_close() -> None:
    """What `CLOSE_CONNECTION` does when there is no connection to close."""


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends `httpx.Request`s through an aiohttp session and returns whole `httpx.Response`s.

    It owns the session: `aclose()` (leaving `async with`) closes it.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        max_connections: int,
        pool_timeout: float | None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._session = session
        self._slots = asyncio.Semaphore(max_connections)
        self._pool_timeout = pool_timeout
        self._max_body_bytes = max_body_bytes
        # Keyed by the configured upstreams' hosts (clients cannot choose them): a handful.
        self._proxy = lru_cache(maxsize=64)(env_proxy)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request`; its answer, read whole and inflated; failures are httpx errors."""
        slots = self._slots
        if slots.locked():
            try:
                async with asyncio.timeout(self._pool_timeout):
                    await slots.acquire()
            except TimeoutError:
                raise httpx.PoolTimeout(
                    "no upstream connection became free in time", request=request
                ) from None
        else:
            await slots.acquire()
        try:
            return await self._send(request)
        finally:
            slots.release()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        _SOCKET.set(None)
        proxy = self._proxy(request.url.scheme, request.url.host)
        try:
            async with self._session.request(
                request.method,
                URL(str(request.url), encoded=True),  # httpx has percent-encoded it already
                headers=[*request.headers.multi_items(), ("accept-encoding", ACCEPT_ENCODING)],
                data=request.content or None,
                allow_redirects=False,
                proxy=proxy,
            ) as answer:
                # aiohttp puts the connection back in the pool as soon as the body has been
                # read (often before `answer` exists): CleanConnector noted which one it was.
                socket = _SOCKET.get()
                close = _nothing_to_close if socket is None else socket.close
                body = await self._read(answer, request)
                status, reason, raw_headers = answer.status, answer.reason, answer.raw_headers
        except aiohttp.ClientError as exc:
            # A proxy's password must not ride along in aiohttp's exception (its message and
            # its request_info name the proxy URL and the Proxy-Authorization header).
            _raise_as_httpx(exc, request, keep_cause=proxy is None or "@" not in proxy)
        except TimeoutError as exc:  # pragma: no cover - aiohttp wraps its timeouts; in case
            raise httpx.ReadTimeout(str(exc) or "the upstream timed out", request=request) from exc
        return httpx.Response(
            status,
            headers=[pair for pair in raw_headers if pair[0].lower() not in _DROPPED_HEADERS],
            content=body,
            request=request,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (reason or "").encode(),
                CLOSE_CONNECTION: close,
            },
        )

    async def _read(self, answer: aiohttp.ClientResponse, request: httpx.Request) -> bytes:
        """The inflated body, refused as soon as it is known to pass the limit."""
        encoding = answer.headers.get("content-encoding", "").strip().lower()
        if encoding not in _INFLATED:
            raise httpx.DecodingError(
                f"the upstream sent Content-Encoding {encoding!r}, which we did not ask for",
                request=request,
            )
        limit = self._max_body_bytes
        declared = answer.content_length  # as sent, before inflating
        if declared is not None and declared > limit:
            raise ResponseTooLarge(
                f"the upstream's body is {declared} bytes, more than {limit}", request=request
            )
        chunks: list[bytes] = []
        size = 0
        # Inflated chunks, each bounded by aiohttp. Counting them also bounds a body sent
        # without Content-Length, compressed or not: inflating never makes a body smaller.
        while chunk := await _next_chunk(answer.content, request):
            size += len(chunk)
            if size > limit:
                raise ResponseTooLarge(
                    f"the upstream's body is larger than {limit} bytes", request=request
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        """Close the session and its connections."""
        await self._session.close()


# How often a wait for more body looks at its socket (see _next_chunk).
_BROKEN_BODY_CHECK = 0.1


async def _next_chunk(content: aiohttp.StreamReader, request: httpx.Request) -> bytes:
    """The next inflated chunk of a body, or b"" at its end.

    aiohttp 3.14 closes the socket on a body it cannot parse (an invalid chunk that arrives
    after the head) without waking the reader, and drops the read timeout with it: the wait
    would last forever. A socket closed under an unfinished body is that case.
    """
    if content.is_eof():  # the whole body is here (the usual case): nothing to wait for
        return await content.readany()
    socket = _SOCKET.get()
    while True:
        try:
            async with asyncio.timeout(_BROKEN_BODY_CHECK):
                return await content.readany()
        except TimeoutError:
            # sock_read still bounds a silent upstream: its error ends `readany`.
            if socket is not None and socket.is_closing() and not content.is_eof():
                raise httpx.DecodingError(
                    "the upstream's body broke off in a way that cannot be parsed",
                    request=request,
                ) from None


# aiohttp's client errors and the httpx errors they become. The row of the exception's most
# specific class wins (by its MRO, whatever the order here): ClientHttpProxyError is a
# ClientResponseError, and a refused CONNECT is a ProxyError, not an unreadable answer.
# tests/providers/test_aiohttp_transport.py raises each one, most of them on the wire.
ERRORS: tuple[tuple[type[aiohttp.ClientError], type[httpx.RequestError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),  # sock_connect, TLS handshake too
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),  # nothing for sock_read seconds
    (aiohttp.ServerTimeoutError, httpx.TimeoutException),
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),  # the proxy is not there
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),  # the proxy refused to CONNECT
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # DNS, refused, TLS, certificate
    (aiohttp.ServerFingerprintMismatch, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),  # closed before the answer
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),  # body cut short (or not inflatable)
    # The head or its framing cannot be parsed: over 8 KiB, duplicate Content-Length, bad chunk
    # size, not HTTP/1.1 at all. Another try gets the same bytes: an answer we cannot read.
    (aiohttp.ClientResponseError, httpx.DecodingError),
    (aiohttp.ClientConnectionResetError, httpx.WriteError),  # the request met a closed socket
    (aiohttp.ClientOSError, httpx.ReadError),  # reset while reading
    (aiohttp.ClientConnectionError, httpx.NetworkError),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.ClientError, httpx.TransportError),  # InvalidURL, and whatever a later aiohttp adds
)


# The user:password@ of a URL in a message (a proxy's, as aiohttp names it).
_USERINFO = re.compile(r"(?<=://)[^/@\s'\"]*@")
_BY_CLASS: dict[type, type[httpx.RequestError]] = dict(ERRORS)


def _httpx_class_for(kind: type[aiohttp.ClientError]) -> type[httpx.RequestError]:
    """The httpx class of the most specific row of `ERRORS` that `kind` is a subclass of."""
    return next(_BY_CLASS[cls] for cls in kind.__mro__ if cls in _BY_CLASS)


def _raise_as_httpx(
    exc: aiohttp.ClientError, request: httpx.Request, *, keep_cause: bool = True
) -> NoReturn:
    """Raise the httpx exception that `ERRORS` pairs with an aiohttp one."""
    if isinstance(exc, _NotSentAgain) and isinstance(exc.__cause__, aiohttp.ClientError):
        exc = exc.__cause__  # mapped, and chained, as what it is
    error: type[httpx.RequestError]
    if isinstance(exc, aiohttp.ClientPayloadError) and isinstance(
        exc.__cause__, ContentEncodingError
    ):
        error = httpx.DecodingError  # a body that is not valid gzip or deflate
    else:
        error = _httpx_class_for(type(exc))
    # aiohttp names the whole URL in some messages; its query may carry an API key.
    message = f"{type(exc).__name__}: {exc}"
    query = request.url.query.decode("ascii", "replace")
    if query:
        message = message.replace(query, "(query)")
    message = _USERINFO.sub("(credentials)@", message)
    if not keep_cause:
        raise error(message, request=request) from None
    raise error(message, request=request) from exc


def build_transport(settings: Settings) -> AiohttpTransport:
    """The process's upstream client, for `async with` in the lifespan (on a running loop)."""
    return AiohttpTransport(
        client_session(settings),
        max_connections=settings.max_connections,
        pool_timeout=settings.upstream_timeout,
    )
