"""Proxies and CAs from the environment, as curl reads them, through a real forward proxy.

The upstream's host name (weather.invalid) does not resolve: only the proxy process, started
with `--resolve`, can reach it. So a 200 proves the request went through the proxy.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme

from tests.bodies import owm_london
from tests.conftest import free_port, make_settings, running_app
from weather_api.providers.aiohttp_transport import build_transport
from weather_api.stub import StubServer

pytestmark = pytest.mark.slow

HOST = "weather.invalid"
PROXY_SCRIPT = Path(__file__).with_name("forward_proxy.py")
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")


@dataclass
class ForwardProxy:
    """A running proxy process: its URL, and the request lines it has relayed."""

    url: str
    log: Path

    def seen(self) -> list[str]:
        """What went through it so far: `GET http://...` or `CONNECT host:port` lines."""
        return [line for line in self.log.read_text().splitlines() if line != "listening"]


@contextmanager
def forward_proxy(tmp_path: Path, *extra: str) -> Iterator[ForwardProxy]:
    """tests/providers/forward_proxy.py on a free port, resolving weather.invalid to us."""
    port = free_port()
    log = tmp_path / f"proxy-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                str(PROXY_SCRIPT),
                f"--port={port}",
                f"--resolve={HOST}=127.0.0.1",
                *extra,
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 15
        while "listening" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the proxy did not start"
            time.sleep(0.05)
        yield ForwardProxy(f"http://127.0.0.1:{port}", log)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(autouse=True)
def _no_ambient_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the proxy variables a test sets apply (none from the developer's shell)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


async def london(settings_url: str) -> httpx.Response:
    """/london/gb/ from the app on its production client, OpenWeatherMap at `settings_url`."""
    settings = make_settings(
        provider="openweathermap", upstream_url=settings_url, cache_ttl=0, retry_attempts=1
    )
    async with running_app(settings) as client:
        return await client.get("/london/gb/")


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy"])
async def test_http_proxy_carries_plain_http(
    stub: StubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """HTTP_PROXY (either case): the request goes to the proxy, which alone reaches the host."""
    with forward_proxy(tmp_path) as proxy:
        monkeypatch.setenv(variable, proxy.url)
        response = await london(f"http://{HOST}:{stub.port}")
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "London"
        [line] = proxy.seen()
        assert line.startswith(f"GET http://{HOST}:{stub.port}/data/2.5/weather?q=london")


@pytest.mark.parametrize("variable", ["NO_PROXY", "no_proxy"])
async def test_no_proxy_bypasses_the_proxy(
    stub: StubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """NO_PROXY (either case) names the host: we connect ourselves, and the name cannot resolve."""
    with forward_proxy(tmp_path) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv(variable, f"example.org,{HOST}")
        response = await london(f"http://{HOST}:{stub.port}")
        assert response.json()["type"].endswith("upstream-unavailable")
        assert proxy.seen() == []


@asynccontextmanager
async def tls_upstream(ca: trustme.CA) -> AsyncIterator[int]:
    """An https OpenWeatherMap on 127.0.0.1 with a certificate for weather.invalid; its port."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(context)
    body = json.dumps(owm_london()).encode()
    writers: list[asyncio.StreamWriter] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n"
                writer.write(head.encode() + b"Content-Type: application/json\r\n\r\n" + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    try:
        async with server:
            yield server.sockets[0].getsockname()[1]
    finally:
        for writer in writers:
            writer.close()


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy"])
async def test_https_proxy_tunnels_and_ssl_cert_file_is_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """HTTPS_PROXY: a CONNECT tunnel; the upstream's private CA is trusted via SSL_CERT_FILE."""
    ca = trustme.CA()
    ca_file = tmp_path / "private-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    async with tls_upstream(ca) as port:
        with forward_proxy(tmp_path) as proxy:
            monkeypatch.setenv(variable, proxy.url)
            monkeypatch.delenv("SSL_CERT_FILE", raising=False)
            untrusted = await london(f"https://{HOST}:{port}")
            assert untrusted.json()["type"].endswith("upstream-unavailable")
            monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
            trusted = await london(f"https://{HOST}:{port}")
            assert trusted.status_code == 200, trusted.text
            assert trusted.json()["name"] == "London"
            assert proxy.seen() == [f"CONNECT {HOST}:{port}"] * 2


async def send_through(url: str) -> httpx.Response:
    async with build_transport(make_settings()) as transport:
        return await transport.handle_async_request(httpx.Request("GET", url))


async def test_a_proxy_that_is_not_there_is_a_proxy_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTP_PROXY names a port nobody listens on: httpx.ProxyError."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(httpx.ProxyError):
        await send_through(f"http://{HOST}/")


async def test_a_proxy_that_refuses_to_connect_is_a_proxy_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy answers CONNECT with 403: httpx.ProxyError, not an answer from the upstream."""
    with forward_proxy(tmp_path, "--refuse-connect") as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        with pytest.raises(httpx.ProxyError):
            await send_through(f"https://{HOST}/")
        assert proxy.seen() == [f"CONNECT {HOST}:443"]
