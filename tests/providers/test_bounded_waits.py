"""Every wait bounded: a stalled DNS lookup or a proxy that never answers CONNECT costs about
`--connect-timeout`, then a retry, inside the request's deadline; not the deadline itself.

Real sockets on 127.0.0.1: the production session and adapter, a resolver that never answers
(aiohttp's resolver interface), and a raw server that accepts a proxy connection and is silent.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from prometheus_client import REGISTRY

from tests.conftest import make_settings
from weather_api.errors import UpstreamTimeout
from weather_api.providers.aiohttp_transport import AiohttpTransport, client_session
from weather_api.providers.upstream import UpstreamClient

CONNECT_TIMEOUT = 0.3
DEADLINE = 8.0


class StallingResolver(AbstractResolver):
    """A DNS lookup that never comes back, as a resolver behind a dead network does."""

    def __init__(self) -> None:
        self.lookups = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups += 1
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        pass


def timeouts(provider: str) -> float:
    value = REGISTRY.get_sample_value(
        "weather_api_upstream_request_duration_seconds_count",
        {"provider": provider, "outcome": "timeout"},
    )
    return value or 0.0


async def get_through(transport: AiohttpTransport, url: str, *, provider: str) -> Any:
    """One client request's upstream GET, with two attempts inside an 8 s deadline."""
    upstream = UpstreamClient(
        transport, provider=provider, deadline=DEADLINE, attempts=2, headers={}
    )
    async with transport:
        return await upstream.get(url, params={"q": "London,GB"}, decode=bytes)


def settings() -> Any:
    return make_settings(connect_timeout=CONNECT_TIMEOUT, request_deadline=DEADLINE)


async def test_a_stalled_dns_lookup_costs_the_connect_timeout_then_a_retry() -> None:
    """The resolver never answers: two attempts of ~connect-timeout each, then a 504, not 8 s."""
    resolver = StallingResolver()
    transport = AiohttpTransport(
        client_session(settings(), resolver=resolver), max_connections=4, pool_timeout=1.0
    )
    before = timeouts("dns-test")
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        await get_through(transport, "http://weather.test/data", provider="dns-test")
    took = time.monotonic() - started
    assert timeouts("dns-test") - before == 2  # two attempts, each ended by the connect bound
    assert resolver.lookups >= 1
    assert 2 * CONNECT_TIMEOUT <= took < DEADLINE / 2


@asynccontextmanager
async def silent_proxy() -> AsyncIterator[tuple[str, list[bytes]]]:
    """Accepts connections, reads what comes, answers nothing; yields its URL and the reads."""
    seen: list[bytes] = []
    writers: list[asyncio.StreamWriter] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            seen.append(await reader.readuntil(b"\r\n\r\n"))
            await reader.read()  # until the client gives up
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        async with server:
            yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", seen
    finally:
        for writer in writers:
            writer.close()


async def test_a_proxy_that_never_answers_connect_costs_the_connect_timeout_then_a_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTPS_PROXY accepts and stays silent: two CONNECTs, ~connect-timeout each, not 8 s."""
    async with silent_proxy() as (proxy, seen):
        monkeypatch.setenv("HTTPS_PROXY", proxy)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        transport = AiohttpTransport(
            client_session(settings()), max_connections=4, pool_timeout=1.0
        )
        before = timeouts("proxy-test")
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            await get_through(transport, "https://weather.test/data", provider="proxy-test")
        took = time.monotonic() - started
    assert [line.split(b" ")[:2] for line in seen] == [[b"CONNECT", b"weather.test:443"]] * 2
    assert timeouts("proxy-test") - before == 2
    assert 2 * CONNECT_TIMEOUT <= took < DEADLINE / 2
