"""One count of upstream GETs: every GET the upstream reads is one attempt, one observation.

aiohttp sends an idempotent request again, once, after a reset or a close without an answer;
the adapter turns that off, so against a failing real server the GETs per client request are at
most `--retry-attempts` and `weather_api_upstream_request_duration_seconds` agrees with what
the server read.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from tests.conftest import make_settings, running_app, scrape
from tests.providers.test_aiohttp_transport import raw_server

ATTEMPTS = "weather_api_upstream_request_duration_seconds_count"


@pytest.mark.parametrize("failure", ["close", "reset"])
@pytest.mark.parametrize("attempts", [1, 2, 3])
async def test_gets_per_client_request_are_the_retry_attempts_and_all_counted(
    failure: str, attempts: int
) -> None:
    """A server that reads each GET, then closes or resets: `attempts` GETs, as many observed."""
    gets = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal gets
        try:
            await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        gets += 1
        if failure == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            writer.close()

    async with raw_server(handler) as url:
        settings = make_settings(
            provider="openweathermap", upstream_url=url, retry_attempts=attempts, cache_ttl=0
        )
        async with running_app(settings) as client:
            before = await scrape(client)
            response = await client.get("/london/gb/")
            after = await scrape(client)
    assert response.status_code == 502, response.text
    assert gets == attempts
    observed = after.since(before, ATTEMPTS, provider="openweathermap", outcome="unavailable")
    assert observed == gets
