"""Malformed answers are bad responses: 502 `upstream-bad-response`, not retried.

Real sockets: a raw server on 127.0.0.1 sends what no HTTP/1.1 upstream may, to the whole app on
openweathermap with three attempts allowed. Each is one GET: another try reads the same bytes.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import make_settings, running_app
from tests.providers.test_aiohttp_transport import raw_server

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"

MALFORMED = {
    "header over 8 KiB": (
        HEAD + b"X-Big: " + b"a" * 9000 + b"\r\nContent-Length: 2\r\n\r\n{}",
        b"",
    ),
    "duplicate Content-Length": (HEAD + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}", b""),
    "conflicting Content-Length": (
        HEAD + b"Content-Length: 2\r\nContent-Length: 5\r\n\r\n{}",
        b"",
    ),
    "Content-Length and chunked": (
        HEAD + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        b"",
    ),
    "invalid chunk size": (CHUNKED + b"zz\r\n{}\r\n0\r\n\r\n", b""),
    # The bad chunk after a pause, in its own packet: aiohttp 3.14 stops reading without waking
    # the reader; without the adapter's check this waits for the deadline (a 504).
    "invalid chunk size, later": (CHUNKED + b"1\r\n{\r\n", b"zz\r\n"),
    "chunk without its CRLF, later": (CHUNKED + b"1\r\n{\r\n", b"1\r\n}XX0\r\n\r\n"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_malformed_answer_is_a_502_bad_response_sent_once(case: str) -> None:
    """The answer cannot be parsed: 502 upstream-bad-response, quickly, after one GET."""
    first, later = MALFORMED[case]
    gets = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal gets
        try:
            await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        gets += 1
        writer.write(first)
        await writer.drain()
        if later:
            await asyncio.sleep(0.2)
            writer.write(later)
            await writer.drain()
        await asyncio.sleep(5)  # keeps the socket open: the refusal must not wait for a close
        writer.close()

    async with raw_server(handler) as url:
        settings = make_settings(
            provider="openweathermap",
            upstream_url=url,
            retry_attempts=3,
            cache_ttl=0,
            request_deadline=8.0,
        )
        async with running_app(settings) as client:
            started = asyncio.get_running_loop().time()
            response = await client.get("/london/gb/")
            took = asyncio.get_running_loop().time() - started
    assert response.status_code == 502, response.text
    assert response.json()["type"] == "/problems/upstream-bad-response"
    assert gets == 1
    assert took < 4.0  # not the 8 s deadline, nor the 5 s read timeout
