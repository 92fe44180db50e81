"""Proxies as users write them, and only as docs/configuration.md says they are honoured.

Through the real forward proxy process of test_proxies.py; the start-up refusals as a real
`weather-api serve` process. Every claim of the docs' proxy section has its test here or there.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import traceback
from pathlib import Path

import httpx
import pytest
import trustme

from tests.conftest import free_port
from tests.providers.test_proxies import (
    HOST,
    PROXY_VARIABLES,
    forward_proxy,
    london,
    send_through,
    tls_upstream,
)
from weather_api.config import ConfigurationError
from weather_api.providers.aiohttp_transport import env_proxy
from weather_api.providers.proxies import check_proxy_environment
from weather_api.stub import StubServer

pytestmark = pytest.mark.slow

PASSWORD = "s3cret-pw"  # noqa: S105 - a test's proxy password, looked for in every output


@pytest.fixture(autouse=True)
def _no_ambient_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the proxy variables a test sets apply (none from the developer's shell)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def serve(**proxy_env: str) -> subprocess.CompletedProcess[str]:
    """`weather-api serve` (sample provider) with these proxy variables; expected to stop."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("WEATHER_API_")
        and name.lower().removesuffix("_proxy") == name.lower()
    }
    env.update(proxy_env)
    command = [sys.executable, "-m", "weather_api", "serve", "--provider", "sample"]
    return subprocess.run(
        [*command, "--host", "127.0.0.1", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value", "scheme"),
    [
        ("HTTPS_PROXY", f"socks5://alice:{PASSWORD}@127.0.0.1:1080", "socks5"),
        ("https_proxy", f"socks5h://alice:{PASSWORD}@proxy.test:1080", "socks5h"),
        ("HTTP_PROXY", "socks4://127.0.0.1:1080", "socks4"),
        ("HTTPS_PROXY", f"https://alice:{PASSWORD}@proxy.test:443", "https"),
    ],
)
def test_a_proxy_we_cannot_speak_to_stops_the_start(variable: str, value: str, scheme: str) -> None:
    """socks4/socks5/https proxies: one line, `cannot start`, exit 2; the password not in it."""
    done = serve(**{variable: value})
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("weather-api: cannot start: ")
    assert variable in line
    assert f"{scheme}://" in line
    assert PASSWORD not in done.stderr


async def test_a_proxy_without_a_scheme_is_an_http_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS_PROXY=host:port (no scheme) is http://host:port: the CONNECT goes through it."""
    ca = trustme.CA()
    ca_file = tmp_path / "private-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    async with tls_upstream(ca) as port:
        with forward_proxy(tmp_path) as proxy:
            monkeypatch.setenv("HTTPS_PROXY", proxy.url.removeprefix("http://"))
            monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
            response = await london(f"https://{HOST}:{port}")
            assert response.status_code == 200, response.text
            assert proxy.seen() == [f"CONNECT {HOST}:{port}"]


async def test_a_proxy_password_appears_in_no_answer_log_or_exception(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A proxy with a password refuses CONNECT: not in the problem, the logs or the exception."""
    caplog.set_level(logging.DEBUG)
    with forward_proxy(tmp_path, "--refuse-connect") as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url.replace("://", f"://alice:{PASSWORD}@"))
        with pytest.raises(httpx.ProxyError) as caught:
            await send_through(f"https://{HOST}/")
        answer = await london(f"https://{HOST}")
    assert answer.status_code == 502
    error_text = "".join(traceback.format_exception(caught.value))
    assert "(credentials)@" in str(caught.value)  # the proxy is still named, without them
    out, err = capfd.readouterr()
    for text in (error_text, answer.text, str(answer.headers), caplog.text, out, err):
        assert PASSWORD not in text
        assert "YWxpY2U6czNjcmV0LXB3" not in text  # alice:s3cret-pw as Proxy-Authorization


async def test_all_proxy_is_not_honoured(
    stub: StubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ALL_PROXY (curl's fallback) is ignored: the request goes direct, the proxy sees nothing."""
    with forward_proxy(tmp_path) as proxy:
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        response = await london(f"http://{HOST}:{stub.port}")  # only the proxy can resolve it
        assert response.json()["type"].endswith("upstream-unavailable")
        assert proxy.seen() == []


async def test_no_proxy_cidr_entries_are_not_honoured(
    stub: StubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_PROXY=127.0.0.0/8 does not cover 127.0.0.1 (curl's does): the proxy carries it."""
    with forward_proxy(tmp_path) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.0/8")
        response = await london(f"http://127.0.0.1:{stub.port}")
        assert response.status_code == 200, response.text
        assert len(proxy.seen()) == 1


async def test_lowercase_wins_when_both_cases_are_set(
    stub: StubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """http_proxy and HTTP_PROXY both set: the lowercase one is used."""
    with forward_proxy(tmp_path) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nobody there
        monkeypatch.setenv("http_proxy", proxy.url)
        response = await london(f"http://{HOST}:{stub.port}")
        assert response.status_code == 200, response.text
        assert len(proxy.seen()) == 1


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        ("proxy.corp:3128", False),
        ("http://proxy.corp:3128", False),
        (f"http://alice:{PASSWORD}@proxy.corp:3128", False),
        ("  ", False),  # set but empty: no proxy, as urllib reads it
        ("http://:3128", True),
        (f"ftp://alice:{PASSWORD}@proxy.corp", True),
    ],
)
def test_which_proxy_values_start(value: str, refused: bool) -> None:
    """Forms that start and forms that are refused, by name, never echoing the value."""
    if not refused:
        check_proxy_environment({"HTTPS_PROXY": value, "PATH": "/bin"})
        return
    with pytest.raises(ConfigurationError) as caught:
        check_proxy_environment({"HTTPS_PROXY": value})
    assert "HTTPS_PROXY" in str(caught.value)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("no_proxy", "host", "bypassed"),
    [
        ("example.org", "api.example.org", True),
        (".example.org", "api.example.org", True),
        ("other.test, example.org", "example.org", True),
        ("*", "anything.test", True),
        ("example.org", "notexample.org", False),
        ("10.0.0.0/8", "10.1.2.3", False),  # curl 7.86+ would go direct
    ],
)
def test_which_no_proxy_entries_match(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str, host: str, bypassed: bool
) -> None:
    """NO_PROXY names hosts and domains (and `*`), not address ranges."""
    monkeypatch.setenv("HTTP_PROXY", "proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    assert env_proxy("http", host) == (None if bypassed else "http://proxy.corp:3128")
