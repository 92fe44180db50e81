"""The absolute form on uvicorn's h11 protocol: the gate decides, not the parser.

h11 hands the whole absolute-form target to the app as the path (httptools keeps only the
path, and http_protocol.py's protocol keeps the target aside): routes/forward_proxy.py reads both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn

from tests.conftest import free_port, make_settings
from tests.hostile.rawhttp import exchange
from weather_api.app import create_app


@pytest.fixture
async def h11_port() -> AsyncIterator[int]:
    """The app under uvicorn with `http="h11"` on 127.0.0.1, in this event loop."""
    port = free_port()
    config = uvicorn.Config(
        create_app(make_settings(provider="sample")),
        host="127.0.0.1",
        port=port,
        http="h11",
        lifespan="on",
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn (h11) did not start"
        assert not task.done(), task
        await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def test_h11_absolute_form_for_openweathermap_reaches_its_route(h11_port: int) -> None:
    """The OWM route answers (its 404 shape), not the city route or a 404 for the long path."""
    answer = await exchange(
        h11_port,
        [
            b"GET http://api.openweathermap.org/data/2.5/weather?q=Nowhereland,GB HTTP/1.1\r\n"
            b"Host: api.openweathermap.org\r\nConnection: close\r\n\r\n"
        ],
        within=10,
    )
    assert answer.status == 404
    assert answer.body == b'{"cod":"404","message":"city not found"}'


async def test_h11_absolute_form_for_another_host_is_refused(h11_port: int) -> None:
    """Another host: 403, as under httptools."""
    answer = await exchange(
        h11_port,
        [b"GET http://any.host/london/uk/ HTTP/1.1\r\nHost: any.host\r\nConnection: close\r\n\r\n"],
        within=10,
    )
    assert answer.status == 403
