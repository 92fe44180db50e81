"""A flood of distinct locations: the cache stays within its bound and the process stays small.

Every request misses (no location repeats), so each one adds an entry and, past the bound,
evicts one. `make test` floods 2,000 locations through a 500-entry cache; `make soak`
50,000 through the default 10,000 entries. The figure is the server process's peak RSS.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.processes import Running, weather_api_process

pytestmark = pytest.mark.slow

SOAK = os.environ.get("HOSTILE_SOAK") == "1"
RSS_LIMIT_MIB = 150
COUNTRIES = ["GB", "FR", "DE", "US", "JP", "BR", "IN", "ZA", "AU", "NO"]


def locations(count: int) -> Iterator[str]:
    """`count` distinct, well-formed `/city/country/` paths (letters only, never Nowhere*)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    names = ("Flood" + "".join(p) for p in itertools.product(letters, repeat=4))
    for name, country in zip(names, itertools.cycle(COUNTRIES)):
        if count == 0:
            return
        count -= 1
        yield f"/{name}/{country}/"


async def flood(
    port: int, paths: list[str], *, connections: int = 8, depth: int = 32
) -> Counter[int]:
    """GET every path over keep-alive connections, `depth` requests pipelined at a time."""
    statuses: Counter[int] = Counter()
    shares = [paths[i::connections] for i in range(connections)]

    async def one_connection(share: list[str]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for start in range(0, len(share), depth):
                batch = share[start : start + depth]
                writer.write(
                    b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode() for p in batch)
                )
                for _ in batch:
                    head = await reader.readuntil(b"\r\n\r\n")
                    statuses[int(head.split(b" ", 2)[1])] += 1
                    length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
                    await reader.readexactly(int(length.group(1)) if length else 0)
        finally:
            writer.close()

    async with asyncio.timeout(600):
        await asyncio.gather(*(one_connection(share) for share in shares))
    return statuses


def peak_rss_mib(running: Running) -> float:
    """The server process's peak resident memory (VmHWM)."""
    status = Path(f"/proc/{running.process.pid}/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    return kib / 1024


def metric(text: str, name: str) -> float:
    """One sample's value from Prometheus text."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, name
    return float(match.group(1))


async def run_flood(count: int, max_entries: int) -> None:
    port = free_port()
    with weather_api_process(
        "serve",
        "--port", str(port),
        "--provider", "sample",
        "--cache-max-entries", str(max_entries),
        "--log-level", "warning",  # 50,000 access lines would be the test's own cost
        port=port,
    ) as running:  # fmt: skip
        started = time.monotonic()
        statuses = await flood(port, list(locations(count)))
        seconds = time.monotonic() - started
        async with httpx.AsyncClient(timeout=10) as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        rss = peak_rss_mib(running)
    entries = metric(text, "weather_api_cache_entries")
    evictions = metric(text, 'weather_api_cache_events_total{event="evictions"}')
    summary = (
        f"memory: {count} distinct locations in {seconds:.1f} s, statuses {dict(statuses)}, "
        f"cache {entries:.0f}/{max_entries} entries ({evictions:.0f} evicted), "
        f"peak RSS {rss:.1f} MiB (limit {RSS_LIMIT_MIB})"
    )
    print("\n" + summary)
    assert statuses == {200: count}, summary
    assert entries == max_entries, summary
    assert evictions == count - max_entries, summary
    assert rss < RSS_LIMIT_MIB, summary


async def test_a_flood_of_locations_keeps_the_cache_and_memory_bounded() -> None:
    """2,000 distinct locations through 500 entries: bounded, evicting, under 150 MiB."""
    await run_flood(2_000, 500)


@pytest.mark.skipif(not SOAK, reason="make soak: 50,000 locations")
async def test_fifty_thousand_locations() -> None:
    """The issue's figure: 50,000 distinct locations through the default 10,000 entries."""
    await run_flood(50_000, 10_000)
