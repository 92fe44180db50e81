"""A log collector that stops reading: the service keeps answering and does not grow.

A real service process at info level whose stderr is a pipe nobody reads: once the pipe (64 KiB)
and the log queue are full, every access line is dropped and counted. 15 s of normal requests
grew such a process from 65 to 154 MiB, still growing, while the queue had no bound. On a
machine too busy to fill the queue in 15 s, the flood goes on until lines are dropped.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.hostile.rawhttp import pipelined_gets
from tests.processes import weather_api_process
from weather_api.logs.writer import QUEUE_LINES

pytestmark = pytest.mark.slow

FLOOD_SECONDS = 15.0
GROWTH_LIMIT_MIB = 60
PATHS = ["/london/gb/", "/paris/fr/", "/berlin/de/?units=metric", "/oslo/no/?lang=de"]


@contextmanager
def unread_stderr_service(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`weather-api serve` at info level, its output a pipe that this test never reads."""
    with weather_api_process(
        *("serve", "--port", str(port), "--provider", "sample", "--log-level", "info"),
        env={"WEATHER_API_LOG_FORMAT": "json"},
        port=port,
        stream=subprocess.PIPE,
    ) as running:
        try:
            yield running.process
        finally:
            assert running.process.stdout is not None
            running.process.stdout.close()


def rss_mib(pid: int) -> float:
    """The process's resident memory now (VmRSS)."""
    status = Path(f"/proc/{pid}/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return kib / 1024


async def dropped_lines(client: httpx.AsyncClient) -> float:
    """weather_api_log_lines_dropped_total, from /metrics."""
    text = (await client.get("/metrics")).text
    match = re.search(r"^weather_api_log_lines_dropped_total (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def requests_for(
    port: int, seconds: float, *, connections: int = 8, depth: int = 16
) -> Counter[int]:
    """Normal requests over keep-alive connections, `depth` pipelined, for `seconds`."""
    statuses: Counter[int] = Counter()
    deadline = time.monotonic() + seconds

    async def one_connection(offset: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        paths = itertools.islice(itertools.cycle(PATHS), offset, None)
        try:
            while time.monotonic() < deadline:
                await pipelined_gets(reader, writer, itertools.islice(paths, depth), statuses)
        finally:
            writer.close()

    async with asyncio.timeout(seconds + 60):
        await asyncio.gather(*(one_connection(i) for i in range(connections)))
    return statuses


async def test_a_log_pipe_nobody_reads_costs_lines_not_memory() -> None:
    """15 s of requests with stderr unread: RSS grows <= 60 MiB, answers stay 200, drops count."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    statuses: Counter[int] = Counter()
    with unread_stderr_service(port) as process:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            statuses += await requests_for(port, 1.0)  # caches fill, and the pipe
            before, dropped_before = rss_mib(process.pid), await dropped_lines(client)
            started = time.monotonic()
            # 15 s, or longer on a machine too busy to fill the queue in that time.
            while (seconds := time.monotonic() - started) < FLOOD_SECONDS or (
                await dropped_lines(client) == dropped_before and seconds < 120
            ):
                statuses += await requests_for(port, 5.0)
            seconds = time.monotonic() - started
            after, dropped_after = rss_mib(process.pid), await dropped_lines(client)
            answer = await client.get("/london/gb/")
    requests = sum(statuses.values())
    summary = (
        f"log flood: {requests} requests in {seconds:.1f} s {dict(statuses)}, stderr unread; "
        f"RSS {before:.1f} -> {after:.1f} MiB (+{after - before:.1f}, limit "
        f"+{GROWTH_LIMIT_MIB}); log lines dropped +{dropped_after - dropped_before:.0f}"
    )
    print("\n" + summary)
    assert set(statuses) == {200}, summary
    assert answer.status_code == 200, summary
    assert after - before <= GROWTH_LIMIT_MIB, summary
    # Each request logs a line: all were dropped but those in the queue, in the 64 KiB pipe, and
    # in the writer's hands (a batch of at most 4,096, stuck in its write). On a quiet machine
    # (~20k requests/s) 19-24k lines got through instead of the ~14.5k that adds up to (open
    # question: more left the queue before the writer blocked than the sum says), hence room
    # for two queues' worth: a counter that missed drops would be short by ~all of them.
    assert dropped_after - dropped_before >= requests - 3 * QUEUE_LINES, summary
