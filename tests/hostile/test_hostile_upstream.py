"""An upstream that breaks HTTP or its body's encoding, against the real server process.

The stub's faults keep to HTTP; these do not (the trailing-answer test uses the stub's
knob, in process). One test reads everything the process logged in this module, at debug
level, for the API key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import API_KEY, free_port, make_settings, running_app
from tests.hostile.upstreams import HostileUpstream
from tests.processes import Running, weather_api_process
from weather_api.stub import StubServer

pytestmark = pytest.mark.slow

RSS_LIMIT_MIB = 150


@pytest.fixture(scope="module")
def upstream() -> Iterator[HostileUpstream]:
    """The hostile upstream; tests set its mode."""
    with HostileUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def service(
    upstream: HostileUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Running, str]]:
    """The service, OpenWeatherMap at the hostile upstream, debug logs, key from a file."""
    key_file = tmp_path_factory.mktemp("secret") / "api-key"
    key_file.write_text(API_KEY + "\n")
    port = free_port()
    with weather_api_process(
        "serve",
        "--port", str(port),
        "--provider", "openweathermap",
        "--upstream-url", upstream.url,
        "--openweathermap-api-key-file", str(key_file),
        "--log-level", "debug",
        "--request-deadline", "3",
        "--cache-ttl", "0",
        port=port,
    ) as running:  # fmt: skip
        yield running, f"http://127.0.0.1:{port}"


def ask(upstream: HostileUpstream, service: tuple[Running, str], mode: str) -> httpx.Response:
    """London through the upstream in `mode`."""
    upstream.mode = mode
    return httpx.get(f"{service[1]}/london/gb/", timeout=10)


def peak_rss_mib(running: Running) -> float:
    """The process's peak resident memory since the last reset (VmHWM)."""
    status = Path(f"/proc/{running.process.pid}/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    return kib / 1024


def reset_peak_rss(running: Running) -> None:
    """Start VmHWM again from the current RSS (Linux: `5` into clear_refs)."""
    Path(f"/proc/{running.process.pid}/clear_refs").write_text("5")


def test_an_upstream_that_does_not_speak_http_is_a_502(
    upstream: HostileUpstream, service: tuple[Running, str]
) -> None:
    """Bytes that are not an HTTP response: 502 upstream-bad-response, not retried."""
    response = ask(upstream, service, "garbage")
    assert response.status_code == 502
    assert response.json()["type"].endswith("upstream-bad-response")


def test_a_body_that_cannot_be_decoded_is_a_502(
    upstream: HostileUpstream, service: tuple[Running, str]
) -> None:
    """`Content-Encoding: gzip` on a body that is not gzip: the upstream's fault, a 502."""
    response = ask(upstream, service, "bad-gzip")
    assert response.status_code == 502


@pytest.mark.parametrize("mode", ["gzip-bomb", "huge"])
def test_an_enormous_body_does_not_take_the_memory(
    upstream: HostileUpstream, service: tuple[Running, str], mode: str
) -> None:
    """256 MiB of body, or of inflated gzip, is refused long before the memory limit."""
    reset_peak_rss(service[0])
    response = ask(upstream, service, mode)
    assert response.status_code == 502
    assert peak_rss_mib(service[0]) < RSS_LIMIT_MIB


def test_upstream_errors_that_carry_the_url_never_leak_the_key(
    upstream: HostileUpstream, service: tuple[Running, str]
) -> None:
    """aiohttp names the full URL, key included, in parse errors.

    Neither the answers nor anything the process logged in this module show the key.
    """
    seen = []
    for mode in ("garbage", "bad-gzip"):
        upstream.mode = mode
        for path in ("/london/gb/", "/v1/weather?q=London,GB"):
            response = httpx.get(f"{service[1]}{path}", timeout=10)
            seen.append(f"{response.status_code} {response.headers} {response.text}")
    output = service[0].output()
    assert '"level":"debug"' in output
    hits = sum(text.count(API_KEY) for text in [*seen, output])
    assert hits == 0, f"sentinel found {hits} times"


CITIES = ["London", "Paris", "Oslo", "Madrid", "Lisbon", "Vienna", "Prague", "Dublin"]


@pytest.mark.parametrize("provider", ["openweathermap", "openmeteo"])
async def test_an_answer_with_another_behind_it_poisons_nothing(
    stub: StubServer, provider: str
) -> None:
    """Each answer followed by one for another place: every request gets its own city's weather.

    The connection that carried the unasked-for answer is not used again: one per request.
    """
    stub.config.update({"trailing_response_rate": 1.0})
    settings = make_settings(
        provider=provider, upstream_url=stub.url, cache_ttl=0, retry_attempts=1
    )
    async with running_app(settings) as client:
        sequential = [await client.get(f"/{city}/gb/") for city in CITIES]
        concurrent = await asyncio.gather(*(client.get(f"/{city}/gb/") for city in CITIES))
    for city, response in zip([*CITIES, *CITIES], [*sequential, *concurrent], strict=True):
        assert response.status_code == 200, response.text
        assert response.json()["name"] == city
    stats = stub.stats.snapshot()
    assert stats["requests_total"] == 2 * len(CITIES) * (2 if provider == "openmeteo" else 1)
    assert stats["connections_total"] == stats["requests_total"]
