"""Start the real `weather-api` command on a free port, wait for it, and always stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx


@dataclass
class Running:
    """A started process and the file its stdout and stderr go to (None: the caller's stream)."""

    process: subprocess.Popen[bytes]
    output_file: IO[bytes] | None

    def output(self) -> str:
        """Everything the process printed so far."""
        if self.output_file is None:
            return "(its output went to the test's own stream)"
        # Read through a new descriptor: seeking the shared one would move the child's offset.
        return Path(self.output_file.name).read_text(errors="replace")


@contextmanager
def weather_api_process(
    *args: str,
    env: dict[str, str] | None = None,
    ready_path: str | None = "/readyz",
    port: int,
    stream: int | None = None,
) -> Iterator[Running]:
    """`python -m weather_api ARGS` until the block ends; waits for `ready_path` on `port`.

    stdout and stderr go to a temporary file (`Running.output()`), or to `stream` when given:
    a descriptor such as a pty's or a pipe's, or `subprocess.PIPE` (then `process.stdout`).
    """
    with (
        tempfile.NamedTemporaryFile(prefix="weather-api-", suffix=".log")
        if stream is None
        else nullcontext()
    ) as output_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "weather_api", *args],
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=output_file if output_file is not None else stream,
            stderr=subprocess.STDOUT,
        )
        running = Running(process, output_file)
        try:
            if ready_path is not None:
                wait_for(f"http://127.0.0.1:{port}{ready_path}", running)
            yield running
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:  # pragma: no cover - only if a test broke it
                    process.kill()
                    process.wait()


def wait_for(url: str, running: Running, *, timeout: float = 60.0) -> None:
    """Poll `url` until it answers 200; fail early with the output if the process died.

    The deadline is for a process that hangs: one that dies is seen at once, and start-up on
    a machine busy with other work (coverage on, CPU hogs beside it) can take 15 s.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise AssertionError(
                f"process exited {running.process.returncode}:\n{running.output()}"
            )
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} did not answer within {timeout} s")  # pragma: no cover
