"""The processes a load-test run starts: each in its own process group, logging to a file,
waited for until it answers, and always stopped (run.py starts them in order)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from procfs import listening_sockets

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"


class SetupFailed(Exception):
    """The stub or a service process did not come up."""


@dataclass
class Child:
    """A process this script started, in a process group of its own, logging to a file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        """Everything the process has logged so far."""
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 15) -> str:
        """The end of the process's log, for error messages."""
        return "\n".join(self.output().splitlines()[-lines:])

    def signal_group(self, sig: signal.Signals) -> None:
        """Send `sig` to the child's process group (itself and anything it started)."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def stop(self, *, sig: signal.Signals = signal.SIGINT, grace: float = 10.0) -> None:
        """Ask it to stop with `sig`; kill its group if it has not after `grace` seconds."""
        if self.process.poll() is not None:
            return
        self.signal_group(sig)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self.process.wait()


def start(name: str, argv: Sequence[str], *, log: Path, env: dict[str, str]) -> Child:
    """Start `argv` in a new process group (Ctrl-C reaches us, and we stop it in order)."""
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own commands, fixed arguments
            argv, stdout=output, stderr=subprocess.STDOUT, env=env, process_group=0
        )
    return Child(name, process, log)


def child_env(**extra: str) -> dict[str, str]:
    """Our environment without WEATHER_API_* settings from the shell (the run sets its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEATHER_API_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def http_status(url: str, *, timeout: float = 2.0) -> int | None:
    """The status of GET `url` on a new connection, or None when there is no answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http only
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, http.client.HTTPException):
        return None


def wait_until_ready(
    url: str,
    *,
    children: Sequence[Child],
    timeout: float,
    shared_port: int | None = None,
    started_line: str | None = None,
) -> None:
    """Until `url` answers 200 and every one of `children` is up.

    When the children share `shared_port`, one 200 proves only that one of them is up. Then
    each child must also have logged `started_line` (uvicorn's start-up line, logged at level
    info and below) or, without it, as many sockets must listen on the port as there are
    children (each binds only once its app is built) and a run of new connections, which the
    kernel spreads over those sockets, must all answer 200.
    """
    deadline = time.monotonic() + timeout
    streak = 0
    wanted = 4 * len(children) if shared_port is not None and started_line is None else 1
    while time.monotonic() < deadline:
        for child in children:
            if child.process.poll() is not None:
                raise SetupFailed(
                    f"{child.name} exited with {child.process.returncode}:\n{child.tail()}"
                )
        up = True
        if shared_port is not None and started_line is not None:
            up = all(started_line in child.output() for child in children)
        elif shared_port is not None:
            found = listening_sockets(shared_port)
            up = found is None or found >= len(children)
        if up and http_status(url, timeout=1.0) == 200:
            streak += 1
            if streak >= wanted:
                return
            continue
        streak = 0
        time.sleep(0.1)
    raise SetupFailed(f"{url} was not ready within {timeout:.0f} s")


def run_locust(
    argv: Sequence[str], *, log: Path, env: dict[str, str], timeout: float
) -> tuple[int, bool]:
    """Run Locust, copying its output to our stdout and `log`; (exit status, timed out)."""
    process = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=HERE,
        process_group=0,
    )
    child = Child("locust", process, log)
    copier = threading.Thread(target=_tee, args=(process.stdout, log), daemon=True)
    copier.start()
    timed_out = False
    try:  # the outer try also covers an interrupt while stopping a Locust that timed out
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            print(f"run.py: Locust still running after {timeout:.0f} s; stopping it", flush=True)
            child.stop(sig=signal.SIGINT, grace=30)
    except BaseException:
        # Interrupted: SIGINT makes Locust stop its users and still write its reports.
        child.stop(sig=signal.SIGINT, grace=30)
        raise
    finally:
        copier.join(timeout=5)
    return process.returncode, timed_out


def _tee(stream: IO[bytes], log: Path) -> None:
    with log.open("wb") as output:
        for line in iter(stream.readline, b""):
            output.write(line)
            sys.stdout.buffer.write(line)
            sys.stdout.flush()
