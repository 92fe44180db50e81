"""The processes a benchmark starts: a free port, and a process that is stopped with its block."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def process(
    name: str, argv: list[str], *, ready: str | None, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run argv until the block ends, logging to bench/results/NAME.log.

    With `ready`, the block starts once that URL answers 200 (within 30 s). At the end the
    process gets SIGINT, then SIGKILL if it has not exited 10 s later.
    """
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / f"{name}.log").open("wb") as log:
        proc = subprocess.Popen(
            argv, env={**os.environ, **(env or {})}, stdout=log, stderr=log, cwd=HERE.parent
        )
        try:
            deadline = time.monotonic() + 30
            while ready is not None:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited {proc.returncode}; see {log.name}")
                try:
                    if httpx.get(ready, timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start; see {log.name}")
                time.sleep(0.05)
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
