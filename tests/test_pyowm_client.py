"""A real OpenWeatherMap client, pyowm (unmodified), against a real service process.

The service runs `--provider openweathermap` against the stub upstream (another process), so
the stub's counters show what reached the upstream. pyowm reaches the service the two ways its
users can: as an HTTP proxy (its documented `proxies` setting, plain HTTP) and as the address a
LAN's DNS gives `api.openweathermap.org`.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pyowm import OWM
from pyowm.commons.exceptions import NotFoundError
from pyowm.utils.config import get_default_config
from pyowm.weatherapi30.weather_manager import WeatherManager

from tests.conftest import free_port
from tests.processes import Running, weather_api_process

SENTINEL = "appid-sentinel-7c41d2"
OWM_HOST = "api.openweathermap.org"


@dataclass(frozen=True)
class Service:
    """The running service and the stub behind it."""

    port: int
    stub_port: int
    process: Running

    def upstream_calls(self) -> int:
        """Requests that reached the stub's OpenWeatherMap API so far."""
        stats = httpx.get(f"http://127.0.0.1:{self.stub_port}/_stub/stats").json()
        calls: int = stats["requests_by_path"].get("/data/2.5/weather", 0)
        return calls

    def upstream_forecasts(self) -> int:
        """Requests that reached the stub's OpenWeatherMap forecast so far."""
        stats = httpx.get(f"http://127.0.0.1:{self.stub_port}/_stub/stats").json()
        calls: int = stats["requests_by_path"].get("/data/2.5/forecast", 0)
        return calls

    def stub_requests(self) -> int:
        """Requests that reached the stub at all."""
        total: int = httpx.get(f"http://127.0.0.1:{self.stub_port}/_stub/stats").json()[
            "requests_total"
        ]
        return total


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    """`weather-api stub` and `weather-api serve --provider openweathermap` in front of it."""
    stub_port, port = free_port(), free_port()
    with (
        weather_api_process(
            "stub", "--port", str(stub_port), ready_path="/_stub/healthz", port=stub_port
        ),
        weather_api_process(
            "serve",
            "--port",
            str(port),
            "--provider",
            "openweathermap",
            "--upstream-url",
            f"http://127.0.0.1:{stub_port}",
            "--log-level",
            "debug",  # the upstream requests are logged too: the appid must be in none
            env={"WEATHER_API_OPENWEATHERMAP_API_KEY": "stub-key"},
            port=port,
        ) as process,
    ):
        yield Service(port=port, stub_port=stub_port, process=process)


def through_proxy(port: int) -> WeatherManager:
    """pyowm configured as its docs say for an HTTP proxy, over plain HTTP."""
    config: dict[str, Any] = get_default_config()
    config["connection"]["use_ssl"] = False
    config["connection"]["use_proxy"] = True
    config["proxies"] = {"http": f"http://127.0.0.1:{port}", "https": f"http://127.0.0.1:{port}"}
    return OWM(SENTINEL, config).weather_manager()


def test_pyowm_through_the_proxy_setting(service: Service) -> None:
    """By place (one upstream call shared with /{city}/{country}/), coordinates, id; Kelvin."""
    ours = httpx.get(f"http://127.0.0.1:{service.port}/london/uk/").json()
    calls = service.upstream_calls()
    manager = through_proxy(service.port)

    by_place = manager.weather_at_place("London,GB")
    assert service.upstream_calls() == calls  # the city route's entry served it
    assert by_place.location.name == "London"
    assert by_place.location.country == "GB"
    # pyowm asks in OpenWeatherMap's default units, Kelvin, and converts itself.
    assert by_place.weather.temperature("kelvin")["temp"] == ours["main"]["temp"]
    assert by_place.weather.temperature("celsius")["temp"] == pytest.approx(
        ours["main"]["temp"] - 273.15, abs=0.01
    )

    by_coords = manager.weather_at_coords(by_place.location.lat, by_place.location.lon)
    assert by_coords.location.lat == pytest.approx(by_place.location.lat)
    assert by_coords.weather.temperature("kelvin")["temp"] == ours["main"]["temp"]

    by_id = manager.weather_at_id(by_place.location.id)
    assert by_id.location.name == "London"
    assert service.upstream_calls() == calls + 2  # coordinates and id: one call each

    with pytest.raises(NotFoundError):
        manager.weather_at_place("Nowhereville,GB")


def test_pyowm_forecast_through_the_proxy_setting(service: Service) -> None:
    """A 5-day / 3-hour forecast: 40 steps 3 hours apart, a limit honoured, one upstream call."""
    manager = through_proxy(service.port)
    calls = service.upstream_forecasts()
    forecast = manager.forecast_at_place("Lisbon,PT", "3h").forecast
    assert len(forecast) == 40
    assert forecast.location.name == "Lisbon"
    times = [weather.reference_time() for weather in forecast.weathers]
    assert {later - earlier for earlier, later in itertools.pairwise(times)} == {10800}
    three = manager.forecast_at_place("Lisbon,PT", "3h", limit=3).forecast
    assert [w.reference_time() for w in three.weathers] == times[:3]
    assert service.upstream_forecasts() == calls + 1  # the second came from the cache


def test_pyowm_through_a_lan_dns_record(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """Origin form with `Host: api.openweathermap.org`, as after a Pi-hole record: answered."""
    real_getaddrinfo = socket.getaddrinfo

    def lan_dns(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        # What a LAN record does: the name resolves to the service (here on its test port).
        if host == OWM_HOST:
            return real_getaddrinfo("127.0.0.1", service.port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lan_dns)
    config: dict[str, Any] = get_default_config()
    config["connection"]["use_ssl"] = False
    manager = OWM(SENTINEL, config).weather_manager()
    observation = manager.weather_at_place("Paris,FR")
    assert observation.location.name == "Paris"
    with pytest.raises(NotFoundError):
        manager.weather_at_place("Nowhere Else,FR")


def test_the_appid_is_in_no_log_line(service: Service) -> None:
    """After the pyowm tests (debug logging, upstream requests logged), no line has the appid."""
    through_proxy(service.port).weather_at_place("Madrid,ES")
    output = service.process.output()
    assert '"route":"/data/2.5/weather"' in output  # the access lines are there
    assert SENTINEL not in output


@pytest.mark.parametrize("place", ["Madrid,ES", "Bergen,NO"])  # a hit, then a miss
def test_proxied_requests_are_logged_under_their_route(service: Service, place: str) -> None:
    """The absolute form is logged (and measured) as /data/2.5/weather, not as unmatched."""
    request_id = f"proxied-{place[:-3].lower()}-{time.monotonic_ns()}"
    with httpx.Client(proxy=f"http://127.0.0.1:{service.port}") as client:
        response = client.get(
            f"http://{OWM_HOST}/data/2.5/weather",
            params={"q": place},
            headers={"X-Request-ID": request_id},
        )
    assert response.status_code == 200
    deadline = time.monotonic() + 10  # the log is written by a thread of its own
    lines: list[str] = []
    while not lines and time.monotonic() < deadline:
        lines = [line for line in service.process.output().splitlines() if request_id in line]
        time.sleep(0.05)
    assert len(lines) == 1, lines
    assert '"route":"/data/2.5/weather"' in lines[0]


def raw(port: int, request: bytes) -> tuple[int, bytes]:
    """One request on a fresh connection: the status and the body, read to the close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_absolute_form_for_openweathermap_is_routed_on_purpose(service: Service) -> None:
    """`GET http://api.openweathermap.org/data/2.5/weather?...` is answered by the OWM route."""
    status, body = raw(
        service.port,
        b"GET http://api.openweathermap.org/data/2.5/weather?q=Nowhereland,GB HTTP/1.1\r\n"
        b"Host: api.openweathermap.org\r\nConnection: close\r\n\r\n",
    )
    # Only the OpenWeatherMap route answers an unknown city in this shape.
    assert (status, body) == (404, b'{"cod":"404","message":"city not found"}')


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://{stub}/data/2.5/weather?q=London,GB&appid=x",
        "http://any.host/london/uk/",
        "http://api.openweathermap.org:8080/data/2.5/weather?q=London,GB",
        "http://user@api.openweathermap.org.evil/data/2.5/weather?q=London,GB",
    ],
)
def test_absolute_form_for_other_hosts_is_refused_and_fetches_nothing(
    service: Service, target: str
) -> None:
    """Any other host: 403 with a one-line reason, and the stub sees no request."""
    before = service.stub_requests()
    target = target.format(stub=f"127.0.0.1:{service.stub_port}")
    status, body = raw(
        service.port,
        f"GET {target} HTTP/1.1\r\nHost: {OWM_HOST}\r\nConnection: close\r\n\r\n".encode(),
    )
    assert status == 403
    assert body.count(b"\n") == 1
    assert b"api.openweathermap.org" in body
    assert service.stub_requests() == before


def test_connect_is_refused_with_advice(service: Service) -> None:
    """CONNECT (a tunnel for https) is 405, telling the client to talk plain HTTP."""
    status, body = raw(
        service.port,
        b"CONNECT api.openweathermap.org:443 HTTP/1.1\r\nHost: api.openweathermap.org:443\r\n\r\n",
    )
    assert status == 405
    assert b"use_ssl=False" in body
