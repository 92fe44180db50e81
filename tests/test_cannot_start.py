"""Bad configuration stops `weather-api serve` with one line and exit 2, run as a real process.

docs/configuration.md promises it: `weather-api: cannot start: <what and where>`, no traceback,
for a key file that is missing, empty, a directory or unreadable, an SSL_CERT_FILE or
SSL_CERT_DIR that does not exist or holds no certificate, and an upstream URL that is not one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trustme

from tests.conftest import free_port
from tests.processes import weather_api_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

PREFIX = "weather-api: cannot start: "
KEY_FILE = "WEATHER_API_OPENWEATHERMAP_API_KEY_FILE"
OWM = ("--provider", "openweathermap")


@dataclass(frozen=True)
class Case:
    """A start that must be refused: its arguments, its environment (paths under `tmp_path`
    are made by `prepare`), and what the one line must name."""

    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[Path], None] = lambda tmp_path: None
    names: tuple[str, ...] = ()
    never: tuple[str, ...] = ()  # what the line must not show (passwords)
    unreadable: str | None = None  # a path under tmp_path that this process may not read


def symlink_loop(name: str) -> Callable[[Path], None]:
    def prepare(tmp_path: Path) -> None:
        (tmp_path / name).symlink_to(tmp_path / name)  # ELOOP: neither missing nor denied

    return prepare


def write(name: str, content: bytes) -> Callable[[Path], None]:
    def prepare(tmp_path: Path) -> None:
        (tmp_path / name).write_bytes(content)

    return prepare


def directory(name: str, *files: tuple[str, bytes]) -> Callable[[Path], None]:
    def prepare(tmp_path: Path) -> None:
        (tmp_path / name).mkdir()
        for file_name, content in files:
            (tmp_path / name / file_name).write_bytes(content)

    return prepare


def ca_pem() -> bytes:
    return trustme.CA().cert_pem.bytes()


CASES = {
    # The key file: with --provider openweathermap, the file that is named is read at start.
    "key file missing": Case(
        args=OWM,
        env={KEY_FILE: "{tmp}/owm-key"},
        names=(KEY_FILE, "/owm-key'", "does not exist"),
    ),
    "key file empty": Case(
        args=OWM,
        env={KEY_FILE: "{tmp}/owm-key"},
        prepare=write("owm-key", b" \n"),
        names=(KEY_FILE, "/owm-key'", "is empty"),
    ),
    "key file a directory": Case(
        args=OWM,
        env={KEY_FILE: "{tmp}/secrets"},
        prepare=directory("secrets", ("owm-key", b"k")),
        names=(KEY_FILE, "/secrets'", "is a directory"),
    ),
    "key file unreadable": Case(
        args=OWM,
        env={KEY_FILE: "{tmp}/owm-key"},
        prepare=write("owm-key", b"a-real-looking-key"),
        names=(KEY_FILE, "/owm-key'", "permission denied"),
        never=("a-real-looking-key",),
        unreadable="owm-key",
    ),
    "key file not text": Case(
        args=OWM,
        env={KEY_FILE: "{tmp}/owm-key"},
        prepare=write("owm-key", b"\xff\xfe\x00k"),
        names=(KEY_FILE, "/owm-key'", "not UTF-8"),
    ),
    "key file a symlink loop": Case(
        args=OWM,
        env={KEY_FILE: "{tmp}/owm-key"},
        prepare=symlink_loop("owm-key"),
        names=(KEY_FILE, "/owm-key'", "symbolic links"),
    ),
    # The CAs to trust: OpenSSL itself would go on with none.
    "SSL_CERT_FILE missing": Case(
        env={"SSL_CERT_FILE": "{tmp}/ca.pem"}, names=("SSL_CERT_FILE=", "/ca.pem'", "not exist")
    ),
    "SSL_CERT_FILE empty value": Case(
        env={"SSL_CERT_FILE": ""}, names=("SSL_CERT_FILE=''", "empty")
    ),
    "SSL_CERT_FILE without a certificate": Case(
        env={"SSL_CERT_FILE": "{tmp}/ca.pem"},
        prepare=write("ca.pem", b"-----BEGIN NOTHING-----\n"),
        names=("SSL_CERT_FILE=", "/ca.pem'", "no PEM certificate"),
    ),
    "SSL_CERT_FILE a directory": Case(
        env={"SSL_CERT_FILE": "{tmp}/certs"},
        prepare=directory("certs"),
        names=("SSL_CERT_FILE=", "/certs'", "is a directory"),
    ),
    "SSL_CERT_FILE unreadable": Case(
        env={"SSL_CERT_FILE": "{tmp}/ca.pem"},
        prepare=lambda tmp_path: write("ca.pem", ca_pem())(tmp_path),
        names=("SSL_CERT_FILE=", "/ca.pem'", "permission denied"),
        unreadable="ca.pem",
    ),
    "SSL_CERT_FILE a symlink loop": Case(
        env={"SSL_CERT_FILE": "{tmp}/ca.pem"},
        prepare=symlink_loop("ca.pem"),
        names=("SSL_CERT_FILE=", "/ca.pem'", "symbolic links"),
    ),
    "SSL_CERT_DIR empty value": Case(env={"SSL_CERT_DIR": ""}, names=("SSL_CERT_DIR=''", "empty")),
    "SSL_CERT_DIR a file": Case(
        env={"SSL_CERT_DIR": "{tmp}/ca.pem"},
        prepare=lambda tmp_path: write("ca.pem", ca_pem())(tmp_path),
        names=("SSL_CERT_DIR=", "/ca.pem'", "is a file"),
    ),
    "SSL_CERT_DIR unreadable": Case(
        env={"SSL_CERT_DIR": "{tmp}/certs"},
        prepare=directory("certs"),
        names=("SSL_CERT_DIR=", "/certs'", "ermission denied"),
        unreadable="certs",
    ),
    "SSL_CERT_DIR missing": Case(
        env={"SSL_CERT_DIR": "{tmp}/certs"}, names=("SSL_CERT_DIR=", "/certs'", "not exist")
    ),
    "SSL_CERT_DIR one of two missing": Case(
        env={"SSL_CERT_DIR": "{tmp}/here:{tmp}/gone"},
        prepare=directory("here"),
        names=("SSL_CERT_DIR=", "/gone'", "not exist"),
    ),
    "SSL_CERT_DIR not rehashed": Case(
        env={"SSL_CERT_DIR": "{tmp}/certs"},
        prepare=lambda tmp_path: directory("certs", ("ca.pem", ca_pem()))(tmp_path),
        names=("SSL_CERT_DIR=", "/certs'", "openssl rehash"),
    ),
    # Upstream URLs: what pydantic refuses, and what it accepts but no request could use.
    "URL not a URL": Case(
        args=("--openweathermap-url", "api.openweathermap.org"),
        names=("openweathermap_url", "valid URL"),
    ),
    "URL of another scheme": Case(
        args=("--upstream-url", "ftp://stub.test"), names=("upstream_url", "scheme")
    ),
    "URL with a query": Case(
        args=("--upstream-url", "http://u:hunter2@stub.test/?appid=1"),
        names=("--upstream-url / WEATHER_API_UPSTREAM_URL", "stub.test", "query"),
        never=("hunter2",),
    ),
    "URL with a fragment": Case(
        env={"WEATHER_API_OPENMETEO_FORECAST_URL": "https://api.open-meteo.com/#v1"},
        names=("WEATHER_API_OPENMETEO_FORECAST_URL", "api.open-meteo.com", "fragment"),
    ),
    "URL to port 0": Case(
        args=("--openmeteo-geocoding-url", "http://geocoding.test:0"),
        names=("--openmeteo-geocoding-url", "port 0"),
    ),
    "URL with an empty label": Case(
        args=("--openweathermap-url", "https://api..openweathermap.org"),
        names=("--openweathermap-url", "empty label"),
    ),
}


def serve(
    *args: str, env: dict[str, str], drop_file_access: bool = False, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m weather_api serve ARGS` to its end, with `env` over an environment that
    has no SSL_CERT_* (nor WEATHER_API_*: conftest removes those)."""
    prefix: list[str] = []
    if drop_file_access and os.geteuid() == 0:
        # root reads any file: take away the capability that lets it, for this process only.
        setpriv = shutil.which("setpriv")
        assert setpriv, "run as non-root, or install util-linux's setpriv, to test this"
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    ambient = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "weather_api", "serve", *args],
        env={**ambient, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_configuration_is_a_one_line_refusal(case: Case, tmp_path: Path) -> None:
    """Exit 2 and one line, `weather-api: cannot start: ...`, naming what is wrong and where."""
    case.prepare(tmp_path)
    env = {name: value.format(tmp=tmp_path) for name, value in case.env.items()}
    if case.unreadable is not None:
        (tmp_path / case.unreadable).chmod(0)
    result = serve(*case.args, env=env, drop_file_access=case.unreadable is not None)
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(PREFIX), result.stderr
    for name in case.names:
        assert name in lines[0]
    for secret in case.never:
        assert secret not in result.stderr


def test_a_private_ca_in_ssl_cert_file_and_dir_is_accepted(tmp_path: Path) -> None:
    """A PEM bundle in SSL_CERT_FILE and a rehashed directory in SSL_CERT_DIR: the service
    starts (the checks refuse only what trusts nothing)."""
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(bundle, certs / "ca.pem")
    subprocess.run(["openssl", "rehash", str(certs)], check=True, timeout=30)
    key = tmp_path / "owm-key"
    key.write_text("key-from-a-file\n")
    port = free_port()
    env = {"SSL_CERT_FILE": str(bundle), "SSL_CERT_DIR": str(certs), KEY_FILE: str(key)}
    with weather_api_process("serve", "--port", str(port), *OWM, env=env, port=port) as running:
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        assert "cannot start" not in running.output()


def test_a_missing_key_file_does_not_stop_a_provider_that_needs_no_key(tmp_path: Path) -> None:
    """The manifests mount the key as an optional Secret: without it, Open-Meteo still serves."""
    port = free_port()
    env = {KEY_FILE: str(tmp_path / "not-mounted")}
    with weather_api_process("serve", "--port", str(port), env=env, port=port) as running:
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        assert "cannot start" not in running.output()
