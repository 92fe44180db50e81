"""The production transport under httpx: requests go out over one aiohttp connection pool.

httpx stays the API (requests and responses are `httpx` objects, and tests hand in
`httpx.MockTransport` with a respx router), but its default pool, httpcore 1.0.9, spends
several ms of CPU per request at 64 concurrent requests on pool bookkeeping. aiohttp's pool
costs a fraction of that; README "Upstream client" has the measurements. We map aiohttp's errors
to httpx's ourselves: httpx-aiohttp 0.2 reported a reset connection as `ConnectTimeout`.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
import yarl

from weather_api.config import Settings


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests through an aiohttp session; bodies are read whole (small JSON)."""

    def __init__(self, *, timeout: httpx.Timeout, limits: httpx.Limits) -> None:
        self._timeout = aiohttp.ClientTimeout(
            sock_connect=timeout.connect, sock_read=timeout.read, connect=timeout.pool
        )
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        # Made on first use: an aiohttp session belongs to the running event loop.
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            keepalive_timeout=self._limits.keepalive_expiry or 15.0,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),  # upstream cookies mean nothing to us
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """One request and its whole answer; aiohttp errors become httpx errors."""
        session = self._session or self._open_session()
        try:
            async with session.request(
                request.method,
                # httpx has already quoted the URL: tell yarl not to parse and quote it again.
                yarl.URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(),
                data=request.content or None,
                allow_redirects=False,
            ) as answer:
                body = await answer.read()
        except aiohttp.ClientError as exc:
            raise _as_httpx_error(exc, request) from exc
        except TimeoutError as exc:  # aiohttp's own timeouts are also TimeoutErrors
            raise httpx.ReadTimeout("upstream read timed out", request=request) from exc
        # httpx decodes Content-Encoding itself, as with any transport.
        return httpx.Response(
            answer.status, headers=answer.raw_headers, content=body, request=request
        )

    async def aclose(self) -> None:
        """Close the pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _as_httpx_error(exc: aiohttp.ClientError, request: httpx.Request) -> httpx.TransportError:
    message = str(exc) or type(exc).__name__
    kind: Any
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.ServerTimeoutError):
        kind = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):
        kind = httpx.ConnectError
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        kind = httpx.RemoteProtocolError
    else:  # a reset, a body cut short, anything else on the wire
        kind = httpx.ReadError
    error: httpx.TransportError = kind(message, request=request)
    return error


def build_transport(settings: Settings) -> httpx.AsyncBaseTransport:
    """The process's one upstream connection pool, with the settings' timeouts and size."""
    return AiohttpTransport(
        timeout=httpx.Timeout(settings.upstream_timeout, connect=settings.connect_timeout),
        limits=httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=settings.max_keepalive_connections,
            keepalive_expiry=30.0,
        ),
    )
