"""Shared fixtures: settings, the app under test with mocked upstreams, and the real stub."""

from __future__ import annotations

import gc
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx
from asgi_lifespan import LifespanManager
from prometheus_client.parser import text_string_to_metric_families

from weather_api.app import create_app
from weather_api.config import Settings
from weather_api.stub import StubConfig, StubServer, start_stub

OWM_URL = "https://owm.test"
GEOCODING_URL = "https://geocoding.test"
FORECAST_URL = "https://forecast.test"
API_KEY = "sentinel-key-0123456789abcdef"

ApiFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what collection built, as `serve` does at start-up: a full collection of the test
    process then scans what tests make, not the ~160k objects of collection (250 ms, long
    enough to break a timing assert; create_app used to freeze them as a side effect)."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the settings they build: no WEATHER_API_* from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("WEATHER_API_"):
            monkeypatch.delenv(name)


def make_settings(**overrides: Any) -> Settings:
    """Settings pointing every upstream at a test host, with fast retries."""
    values: dict[str, Any] = {
        "provider": "openmeteo",
        "openweathermap_url": OWM_URL,
        "openmeteo_geocoding_url": GEOCODING_URL,
        "openmeteo_forecast_url": FORECAST_URL,
        "openweathermap_api_key": API_KEY,
        "request_deadline": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def owm() -> respx.Router:
    """A respx router standing in for OpenWeatherMap."""
    return respx.Router(base_url=OWM_URL, assert_all_called=False)


@pytest.fixture
def openmeteo() -> respx.Router:
    """A respx router standing in for both Open-Meteo hosts (routes name their host)."""
    return respx.Router(assert_all_called=False)


@asynccontextmanager
async def running_app(
    settings: Settings, *, upstream: respx.Router | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process, its lifespan run, upstream traffic sent to `upstream`."""
    transport = httpx.MockTransport(upstream.async_handler) if upstream is not None else None
    app = create_app(settings, transport=transport)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(manager.app), base_url="http://testserver"
        ) as client,
    ):
        yield client


@pytest.fixture
async def stub() -> AsyncIterator[StubServer]:
    """The real stub upstream on a free 127.0.0.1 port, in this event loop."""
    server = await start_stub(StubConfig(port=0, seed=1))
    try:
        yield server
    finally:
        await server.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Metrics:
    """One scrape of /metrics. The registry is the process's, shared by every test that ran
    before: assert on what changed between two scrapes (`since`), not on absolute values."""

    text: str

    def value(self, name: str, **labels: str) -> float:
        """The sample with exactly these labels; 0 when it is not exported (yet)."""
        for family in text_string_to_metric_families(self.text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return 0.0

    def since(self, earlier: Metrics, name: str, **labels: str) -> float:
        """How much a sample grew from the `earlier` scrape to this one."""
        return self.value(name, **labels) - earlier.value(name, **labels)


async def scrape(client: httpx.AsyncClient, url: str = "/metrics") -> Metrics:
    """The service's /metrics now."""
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return Metrics(response.text)
