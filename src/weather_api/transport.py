"""The production transport under httpx: aiohttp's connection pool.

httpcore 1.0.9's pool bookkeeping costs several ms of CPU per request at 64 concurrent requests
(see README "Upstream client" for the measurements); aiohttp's pool costs a fraction of that.
httpx stays the client API, so respx and `httpx.MockTransport` still work in tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from weather_api.config import Settings


def build_transport(settings: Settings) -> httpx.AsyncBaseTransport:
    """An aiohttp-backed transport with the pool size the settings give."""
    return _AiohttpTransport(
        limits=httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=settings.max_keepalive_connections,
            keepalive_expiry=30.0,
        ),
    )


class _AiohttpTransport(AiohttpTransport):
    """httpx-aiohttp 0.2 maps every aiohttp `ClientConnectionError` (a reset, a server that
    hung up) to `httpx.ConnectTimeout`; a broken connection is not a timeout, so map it back."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        with _broken_connections_are_read_errors():
            response = await super().handle_async_request(request)
        response.stream = _Stream(response.stream)  # type: ignore[arg-type]
        return response


class _Stream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _broken_connections_are_read_errors():
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


@contextmanager
def _broken_connections_are_read_errors() -> Iterator[None]:
    try:
        yield
    except httpx.ConnectTimeout as exc:
        cause = exc.__cause__
        if isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(
            cause, asyncio.TimeoutError
        ):
            raise httpx.ReadError(str(exc) or type(cause).__name__) from cause
        raise
