"""Running the stub: as a real process, and through run_stub in this process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from weather_api.stub import StubConfig, run_stub, start_stub
from weather_api.stub.server import _url_host


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_listening(port: int, *, timeout: float = 10) -> None:
    """Poll until a TCP connect to the port succeeds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_stub_process_stops_cleanly(signum: signal.Signals) -> None:
    """run_stub in its own process announces itself, serves, and exits 0 on SIGTERM/SIGINT."""
    port = free_port()
    code = (
        "from weather_api.stub import StubConfig, run_stub; "
        f"run_stub(StubConfig(port={port}, latency_ms=1))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert line == f"stub listening on http://127.0.0.1:{port}\n"
        response = httpx.get(
            f"http://127.0.0.1:{port}/data/2.5/weather", params={"q": "Lima,PE", "appid": "k"}
        )
        assert response.json()["name"] == "Lima"
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
        assert process.stderr.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def exercise_then_stop(port: int, results: list[object]) -> None:
    """From a helper thread: use the stub over raw sockets, then SIGTERM this process."""
    try:
        wait_until_listening(port)
        results.append(httpx.get(f"http://127.0.0.1:{port}/_stub/healthz").json())
        httpx.put(f"http://127.0.0.1:{port}/_stub/config", json={"reset_rate": 1})
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /v1/search?name=Oslo HTTP/1.1\r\n\r\n")
            try:
                results.append(sock.recv(100))
            except ConnectionResetError as exc:
                results.append(exc)
    finally:
        # Only sent once the stub listens, which is after its signal handlers are in place.
        os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.slow
@pytest.mark.parametrize("uvloop", [True, False], ids=["uvloop", "asyncio"])
def test_run_stub_in_process(
    uvloop: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """run_stub serves (resets included) on uvloop or plain asyncio and returns on SIGTERM."""
    if not uvloop:
        monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail
    port = free_port()
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    results: list[object] = []
    helper = threading.Thread(target=exercise_then_stop, args=(port, results))
    helper.start()
    try:
        run_stub(StubConfig(port=port))
    finally:
        helper.join(timeout=15)
    assert results[0] == {"status": "ok"}
    assert isinstance(results[1], ConnectionResetError)
    assert capsys.readouterr().err == f"stub listening on http://127.0.0.1:{port}\n"
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


async def test_start_stub_picks_a_free_port() -> None:
    """port=0 gets a free port, reflected in `.port` and `.url`."""
    async with await start_stub(StubConfig(port=0)) as server:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{server.url}/_stub/healthz")).status_code == 200


async def test_wildcard_host_url_points_at_loopback() -> None:
    """Bound to 0.0.0.0, the stub's URL still names an address a client can reach."""
    async with await start_stub(StubConfig(host="0.0.0.0", port=0)) as server:
        assert server.url == f"http://127.0.0.1:{server.port}"


@pytest.mark.parametrize(
    ("host", "url_host"),
    [("0.0.0.0", "127.0.0.1"), ("::", "[::1]"), ("::1", "[::1]"), ("localhost", "localhost")],
)
def test_url_host(host: str, url_host: str) -> None:
    """Wildcards map to loopback and IPv6 addresses get brackets."""
    assert _url_host(host) == url_host
