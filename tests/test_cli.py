"""The `weather-api` command, run as a real process on a free port."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import types
import typing
from enum import Enum
from pathlib import Path

import httpx
import pytest
from pydantic import HttpUrl, RedisDsn, SecretStr
from pydantic.fields import FieldInfo

from tests.conftest import free_port
from tests.processes import weather_api_process
from weather_api import cli
from weather_api.config import Settings

# Each test starts at most three processes, which wait on each other with their own timeouts.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_serve_answers_and_stops_cleanly() -> None:
    """`serve --provider sample` answers /, /london/uk/ and /docs, and exits 0 on SIGTERM."""
    port = free_port()
    with weather_api_process(
        "serve", "--port", str(port), "--provider", "sample", "--drain-delay", "0", port=port
    ) as running:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(base + "/").text == "App Works!"
        weather = httpx.get(base + "/london/uk/")
        assert weather.status_code == 200
        assert weather.json()["name"] == "London"
        assert httpx.get(base + "/docs").status_code == 200
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(timeout=10) == 0
        output = running.output()
    lines = [line for line in output.splitlines() if '"weather_api.access"' in line]
    assert any('"route":"/{city}/{country}/"' in line for line in lines)


def test_a_real_process_takes_its_options_from_the_environment() -> None:
    """WEATHER_API_PORT and WEATHER_API_PROVIDER work like --port and --provider."""
    port = free_port()
    env = {"WEATHER_API_PORT": str(port), "WEATHER_API_PROVIDER": "sample"}
    with weather_api_process("serve", env=env, port=port):
        assert httpx.get(f"http://127.0.0.1:{port}/paris/fr/").status_code == 200


def value_other_than_default(name: str, field: FieldInfo, tmp_path: Path) -> tuple[str, object]:
    """For one Settings field: a WEATHER_API_ value unlike its default, and what it parses to."""
    kind = field.annotation
    if isinstance(kind, types.UnionType):  # `X | None`: the X
        [kind] = [arg for arg in typing.get_args(kind) if arg is not type(None)]
    default = field.default
    if kind is bool:
        return str(not default).lower(), not default
    if isinstance(kind, type) and issubclass(kind, Enum):
        other = next(member for member in kind if member != default)
        return other.value, other
    if kind is int:
        return str(default + 1), default + 1
    if kind is float:
        return str(default + 1.5), default + 1.5
    if kind is str:
        return "192.0.2.1", "192.0.2.1"
    if kind is SecretStr:
        return "key-from-the-environment", "key-from-the-environment"
    if kind is Path:
        path = tmp_path / name
        path.write_text("key-in-a-file\n")
        return str(path), path
    if kind is HttpUrl:
        url = f"http://{name.replace('_', '-')}.test:81/"
        return url, url
    if kind is RedisDsn:
        return "redis://cache.test:6380/2", "redis://cache.test:6380/2"
    if typing.get_origin(kind) is tuple:
        return "https://a.test, https://b.test", ("https://a.test", "https://b.test")
    raise AssertionError(f"Settings.{name}: no value for {field.annotation} in this test yet")


def plain(value: object) -> object:
    """A setting's value in a form the expected values use (URLs as text, secrets revealed)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, HttpUrl | RedisDsn):
        return str(value)
    if isinstance(value, tuple):
        return tuple(plain(item) for item in value)
    return value


def test_every_option_has_an_environment_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`weather-api serve` with only WEATHER_API_<FIELD> set runs with each field's value."""
    expected = {}
    for name, field in Settings.model_fields.items():
        text, expected[name] = value_other_than_default(name, field, tmp_path)
        monkeypatch.setenv(f"WEATHER_API_{name.upper()}", text)
    served: list[Settings] = []
    monkeypatch.setattr("weather_api.server.run", served.append)  # the server, not the CLI
    assert cli.main(["serve"]) == 0
    [settings] = served
    got = {name: plain(getattr(settings, name)) for name in Settings.model_fields}
    assert got == expected


def test_default_provider_without_network_explains_how_to_run_offline() -> None:
    """With the upstream unreachable, /london/uk/ is a 502 naming the cause and the offline flag."""
    port, closed = free_port(), free_port()
    with weather_api_process(
        "serve", "--port", str(port), "--upstream-url", f"http://127.0.0.1:{closed}", port=port
    ):
        response = httpx.get(f"http://127.0.0.1:{port}/london/uk/", timeout=15)
    assert response.status_code == 502
    problem = response.json()
    assert "unreachable" in problem["detail"]
    assert "--provider sample" in problem["detail"]


def test_openweathermap_without_a_key_refuses_to_start() -> None:
    """No key for openweathermap: exit 2 with a message naming the variable to set."""
    result = subprocess.run(
        [sys.executable, "-m", "weather_api", "serve", "--provider", "openweathermap"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "WEATHER_API_OPENWEATHERMAP_API_KEY" in result.stderr


def test_bad_option_values_are_refused() -> None:
    """An out-of-range port is reported as a settings error, not a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "weather_api", "serve", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "port" in result.stderr
    assert "Traceback" not in result.stderr


def test_stub_and_serve_together() -> None:
    """`weather-api stub` plus `serve --upstream-url` answers for both real providers."""
    stub_port = free_port()
    with weather_api_process(
        "stub", "--port", str(stub_port), ready_path="/_stub/healthz", port=stub_port
    ):
        for provider in ("openweathermap", "openmeteo"):
            port = free_port()
            with weather_api_process(
                "serve",
                "--port",
                str(port),
                "--provider",
                provider,
                "--upstream-url",
                f"http://127.0.0.1:{stub_port}",
                env={"WEATHER_API_OPENWEATHERMAP_API_KEY": "stub-key"},
                port=port,
            ):
                response = httpx.get(f"http://127.0.0.1:{port}/london/uk/")
                assert response.status_code == 200, response.text


def test_help_lists_commands_and_variables() -> None:
    """`--help` names the subcommands and each option's variable."""
    result = subprocess.run(
        [sys.executable, "-m", "weather_api", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "WEATHER_API_CACHE_TTL" in result.stdout
    assert "--upstream-url" in result.stdout
    assert "api-key " not in result.stdout  # the key is never a flag


def test_a_process_that_dies_at_start_is_reported() -> None:
    """A serve that cannot start fails the wait with its exit code and output."""
    port = free_port()
    with (
        pytest.raises(AssertionError, match="exited 2"),
        weather_api_process("serve", "--port", str(port), "--cache-ttl", "-1", port=port),
    ):
        pass  # pragma: no cover


def test_processes_can_share_a_port() -> None:
    """With --reuse-port two processes listen on one port, and the kernel gives both requests."""
    port = free_port()
    args = ("serve", "--port", str(port), "--provider", "sample", "--reuse-port")
    with (
        weather_api_process(*args, port=port) as first,
        # /readyz would be answered by the first: wait for the second's own start-up line.
        weather_api_process(*args, port=port, ready_path=None) as second,
    ):
        deadline = time.monotonic() + 15
        while "Application startup complete" not in second.output():
            assert time.monotonic() < deadline, second.output()
            time.sleep(0.05)
        with httpx.Client() as client:
            statuses = {
                client.get(
                    f"http://127.0.0.1:{port}/healthz", headers={"Connection": "close"}
                ).status_code
                for _ in range(20)
            }
        assert statuses == {200}
        # 20 new connections: each process gets some. The access lines reach the file when
        # the log writer's next batch goes out (every ~20 ms), so wait for them.
        deadline = time.monotonic() + 10
        while not all('"route":"/healthz"' in r.output() for r in (first, second)):
            assert time.monotonic() < deadline, (first.output(), second.output())
            time.sleep(0.05)
