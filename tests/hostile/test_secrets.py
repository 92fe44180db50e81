"""The API key goes nowhere: the error paths `test_request_middleware.py` does not walk.

`tests/test_request_middleware.py::test_sentinel_key_never_leaks` covers 401, 500, 429, resets,
malformed bodies, a stall, two bad inputs, /metrics, /openapi.json and /docs with the key in
the environment. These add the key from a mounted file, 403, truncated and dripped bodies,
retried 5xx and 429, the batch endpoint's per-location problems, requests refused before the
app, and the other documentation pages, and a failure nobody mapped, whose traceback the
process logs. `test_hostile_upstream.py` adds an upstream whose error messages carry the request
URL (key included).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import API_KEY, free_port
from tests.hostile.rawhttp import exchange, request
from tests.processes import Running, weather_api_process
from weather_api.stub import StubServer

pytestmark = pytest.mark.slow


class Seen:
    """Everything a client or an operator could read, gathered for one search."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, response: httpx.Response) -> None:
        """Status, headers and body."""
        self.texts.append(f"{response.status_code} {response.headers} {response.text}")

    def hits(self) -> int:
        """Occurrences of the key."""
        return sum(text.count(API_KEY) for text in self.texts)


@contextmanager
def service(upstream_url: str, key_file: Path, *extra: str) -> Iterator[tuple[Running, str]]:
    """The service at debug level, key from a file, OpenWeatherMap at `upstream_url`."""
    port = free_port()
    with weather_api_process(
        "serve",
        "--port", str(port),
        "--provider", "openweathermap",
        "--upstream-url", upstream_url,
        "--log-level", "debug",
        "--cache-ttl", "0",
        "--openweathermap-api-key-file", str(key_file),
        *extra,
        port=port,
    ) as running:  # fmt: skip
        yield running, f"http://127.0.0.1:{port}"


def command_line(running: Running) -> str:
    """What `ps` shows for the process."""
    return Path(f"/proc/{running.process.pid}/cmdline").read_text()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """The key as Kubernetes mounts a Secret: a file with a trailing newline."""
    path = tmp_path / "api-key"
    path.write_text(API_KEY + "\n")
    return path


async def test_key_from_a_file_never_leaks_on_other_error_paths(
    stub: StubServer, key_file: Path
) -> None:
    """403, truncation, drip, retries, batch problems, refusals, docs: no key anywhere."""
    seen = Seen()
    options = ("--request-deadline", "1.5", "--request-read-timeout", "1")
    with service(stub.url, key_file, *options) as (running, base):
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            faults: list[dict[str, object]] = [
                {"error_rate": 1.0, "error_status": 403},
                {"truncate_rate": 1.0},
                {"drip_ms": 300},  # 32 bytes per 300 ms: past the deadline
                {"error_rate": 1.0, "error_status": 503},  # retried, then 502
                {"error_rate": 1.0, "error_status": 429, "retry_after": 1},  # waited out
                {"error_rate": 0.5, "error_status": 500},
            ]
            statuses = []
            for fault in faults:
                stub.config.clear()
                stub.config.update(fault)
                paths = ("/london/gb/", "/london/gb", "/v1/weather?q=Paris,FR&q=Oslo,NO")
                for response in await asyncio.gather(*(client.get(path) for path in paths)):
                    statuses.append(response.status_code)
                    seen.add(response)
            stub.config.clear()
            others = (
                "/london/gb/?lang=e1",  # FastAPI's own validation
                "/v1/weather",  # q missing
                "/v1/weather?" + "&".join(["q=Rome,IT"] * 30),  # too many
                "/v1/weather?q=Rome&q=Nowhere,GB",  # per-location problems
                "/no/such/path/here",
                "/redoc",
                "/docs/oauth2-redirect",
                "/healthz",
                "/readyz",
                "/metrics",
            )
            for response in await asyncio.gather(*(client.get(path) for path in others)):
                seen.add(response)
            seen.add(await client.post("/london/gb/"))
            seen.add(await client.head("/london/gb/"))
        for refused in await _refusals(int(base.rsplit(":", 1)[1])):
            seen.texts.append(refused)
        seen.texts.append(running.output())
        seen.texts.append(command_line(running))
    assert {502, 503, 504} <= set(statuses), statuses  # the error paths were really taken
    assert '"level":"debug"' in seen.texts[-2]
    assert seen.hits() == 0, f"sentinel found {seen.hits()} times"


async def _refusals(port: int) -> list[str]:
    """414, 431 and 408 answers, which the app never sees."""
    results = [
        await exchange(port, [request("/" + "u" * 20_000)]),
        await exchange(port, [request(headers=[("X-Big", "b" * 20_000)])]),
        await exchange(port, [b"GET /london/gb/ HTTP/1.1\r\n"], within=5),
    ]
    assert [r.status for r in results] == [414, 431, 408]
    return [f"{r.headers} {r.body!r}" for r in results]


# Loaded by the service's interpreter at start-up (PYTHONPATH), before weather_api runs: a bug
# that raises out of the provider with the key in its message, bare and as `appid=`.
PLANTED_BUG = f"""
from weather_api.providers.openweathermap import OpenWeatherMapProvider

async def current(self, query):
    raise RuntimeError("planted bug: key {API_KEY} refused for GET /weather?appid={API_KEY}")

OpenWeatherMapProvider.current = current
"""


def test_a_traceback_in_the_log_leaves_the_key_out(key_file: Path, tmp_path: Path) -> None:
    """An exception nobody mapped, its message naming the key: a 500, and the traceback the
    process logs shows neither the key nor an `appid=` value."""
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "sitecustomize.py").write_text(PLANTED_BUG)
    path = os.pathsep.join(filter(None, [str(planted), os.environ.get("PYTHONPATH")]))
    port = free_port()
    with weather_api_process(
        "serve",
        "--port", str(port),
        "--provider", "openweathermap",
        "--openweathermap-api-key-file", str(key_file),
        "--log-format", "json",
        env={"PYTHONPATH": path},
        port=port,
    ) as running:  # fmt: skip
        response = httpx.get(f"http://127.0.0.1:{port}/london/gb/", timeout=10)
        deadline = time.monotonic() + 15
        while "Traceback" not in running.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        output = running.output()
    assert response.status_code == 500
    assert "Traceback" in output, output  # the planted bug ran and its traceback was logged
    assert "planted bug: key *** refused for GET /weather?appid=***" in output
    assert API_KEY not in output + response.text
