"""`make bench`, multi-process part: N service processes, one upstream, with and without Redis.

Starts on 127.0.0.1 the stub upstream (50 ms), a `redis-server` (no persistence), and N service
processes on ports of their own (default 4), first with the in-process cache only, then with
`--cache-url` pointing all of them at the Redis. For each set:

1. cold burst: 1000 concurrent requests for one uncached city, spread evenly over the N
   processes -> upstream calls (shared: exactly 1; in-process: up to N);
2. steady load: `--connections` clients for 3.5 TTLs over 50 cities, every city first warmed
   in every process, with a short TTL (5 s) -> upstream calls per location per TTL (shared: 1;
   in-process: about N).

Then, against N more processes with the shared cache and a 1 s TTL (so that they keep asking
Redis): Redis is killed a quarter into an 8 s load and restarted halfway through it;
every client request must still succeed, `/readyz` must stay 200, the degraded gauge must
show the outage, and the processes must use Redis again afterwards.

Upstream calls are the stub's `GET /_stub/stats` `requests_total`. Prints a table, writes
bench/results/shared_cache.json, exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from prometheus_client.parser import text_string_to_metric_families

from processes import free_port, process

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PYTHON = sys.executable
KEY_ENV = {"WEATHER_API_OPENWEATHERMAP_API_KEY": "bench-key"}
# One line per row of cities; a list literal would take 50 lines.
CITIES = """
    london/gb paris/fr berlin/de madrid/es rome/it oslo/no vienna/at lisbon/pt dublin/ie prague/cz
    warsaw/pl budapest/hu athens/gr helsinki/fi stockholm/se copenhagen/dk amsterdam/nl brussels/be
    bern/ch zagreb/hr sofia/bg bucharest/ro riga/lv vilnius/lt tallinn/ee reykjavik/is tokyo/jp
    seoul/kr beijing/cn delhi/in bangkok/th hanoi/vn manila/ph jakarta/id sydney/au auckland/nz
    cairo/eg nairobi/ke lagos/ng accra/gh dakar/sn lima/pe bogota/co santiago/cl quito/ec havana/cu
    ottawa/ca chicago/us denver/us boston/us
""".split()  # noqa: SIM905


class Redis:
    """A redis-server without persistence on a fixed port; `kill()` is SIGKILL, as a node dies."""

    def __init__(self, workdir: str) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._workdir = workdir
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it answers PING."""
        argv = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self._workdir,
        ]
        with (RESULTS / "shared-redis.log").open("ab") as log:
            self._proc = subprocess.Popen(argv, stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while not self._answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start; see bench/results/shared-redis.log")
            time.sleep(0.01)

    def kill(self) -> None:
        """Gone at once, with everything it held."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def upstream_calls(stub_url: str) -> int:
    """Requests the stub has answered so far."""
    return int(httpx.get(f"{stub_url}/_stub/stats").json()["requests_total"])


@contextmanager
def fleet(name: str, count: int, stub_url: str, *extra: str) -> Iterator[list[str]]:
    """`count` service processes on ports of their own; their base URLs."""
    with ExitStack() as stack:
        urls = []
        for index in range(count):
            port = free_port()
            argv = [
                PYTHON,
                "-m",
                "weather_api",
                "serve",
                "--port",
                str(port),
                "--provider",
                "openweathermap",
                "--upstream-url",
                stub_url,
                "--log-level",
                "warning",
                *extra,
            ]
            stack.enter_context(
                process(
                    f"shared-{name}-{index}",
                    argv,
                    ready=f"http://127.0.0.1:{port}/readyz",
                    env=KEY_ENV,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        yield urls


async def cold_burst(urls: list[str], path: str, count: int) -> list[int]:
    """`count` requests for one path, all at once, request i to process i mod N."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=count)) as session:

        async def one(url: str) -> int:
            async with session.get(url + path) as response:
                await response.read()
                return response.status

        return await asyncio.gather(*(one(urls[i % len(urls)]) for i in range(count)))


async def load(
    urls: list[str], *, seconds: float, connections: int, events: dict[float, Any] | None = None
) -> dict[str, Any]:
    """`connections` clients asking for the cities round-robin over the processes for
    `seconds`; `events` maps a second into the run to a callable run then (in a thread)."""
    statuses: dict[str, int] = {}
    # Every city from every process in turn (two cycles of 50 and 4 would pair each city
    # with two processes only).
    targets = itertools.cycle([f"{url}/{city}/" for city in CITIES for url in urls])
    deadline = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections), timeout=timeout
    ) as session:

        async def client() -> None:
            while time.monotonic() < deadline:
                try:
                    async with session.get(next(targets)) as response:
                        await response.read()
                        key = str(response.status)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    key = type(exc).__name__
                statuses[key] = statuses.get(key, 0) + 1

        async def timeline() -> dict[float, Any]:
            started, results = time.monotonic(), {}
            for at, action in sorted((events or {}).items()):
                await asyncio.sleep(max(0.0, started + at - time.monotonic()))
                results[at] = await asyncio.to_thread(action)
            return results

        *_, happened = await asyncio.gather(*(client() for _ in range(connections)), timeline())
    requests = sum(statuses.values())
    return {
        "requests": requests,
        "failures": requests - statuses.get("200", 0),
        "statuses": statuses,
        "events": happened,
    }


def metric(url: str, name: str, **labels: str) -> float:
    """One sample from a process's /metrics (0 when absent)."""
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=5).text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def warm(urls: list[str]) -> None:
    """Every city in every process, all at once, so that their entries expire together."""
    async with aiohttp.ClientSession(raise_for_status=True) as session:

        async def one(url: str) -> None:
            async with session.get(url) as response:
                await response.read()

        await asyncio.gather(*(one(f"{url}/{city}/") for url in urls for city in CITIES))


def until_recovered(urls: list[str], *, within: float) -> float | None:
    """Seconds until no process reports the shared tier degraded, asking each for a few cities
    meanwhile (a process tries Redis again only when a request misses its own cache)."""
    started = time.monotonic()
    with httpx.Client(timeout=10) as client:
        while time.monotonic() - started < within:
            degraded = [u for u in urls if metric(u, "weather_api_shared_cache_degraded")]
            if not degraded:
                return time.monotonic() - started
            for url in degraded:
                for city in CITIES[:5]:
                    client.get(f"{url}/{city}/")
            time.sleep(0.5)
    return None


def measure_set(
    name: str, urls: list[str], stub_url: str, *, ttl: float, connections: int, burst: int
) -> dict[str, Any]:
    """The cold burst and the steady load against one set of processes."""
    print(
        f"{name}: {burst} concurrent cold requests for one city over {len(urls)} processes",
        file=sys.stderr,
        flush=True,
    )
    before = upstream_calls(stub_url)
    statuses = asyncio.run(cold_burst(urls, "/ulaanbaatar/mn/", burst))
    cold = {
        "requests": len(statuses),
        "ok": statuses.count(200),
        "upstream_calls": upstream_calls(stub_url) - before,
    }

    ttls = 3
    print(
        f"{name}: steady load, {len(CITIES)} cities, TTL {ttl:g} s, {ttls + 0.5:g} TTLs",
        file=sys.stderr,
        flush=True,
    )
    asyncio.run(warm(urls))
    before = upstream_calls(stub_url)
    run = asyncio.run(load(urls, seconds=(ttls + 0.5) * ttl, connections=connections))
    calls = upstream_calls(stub_url) - before
    steady = {
        "requests": run["requests"],
        "failures": run["failures"],
        "upstream_calls": calls,
        "calls_per_location_per_ttl": calls / (len(CITIES) * ttls),
    }
    return {"cold_burst": cold, "steady": steady}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--burst", type=int, default=1000, help="concurrent cold requests")
    parser.add_argument(
        "--connections", type=int, default=64, help="clients of the steady and kill loads"
    )
    parser.add_argument(
        "--ttl", type=float, default=5.0, help="cache TTL of the burst and steady load (s)"
    )
    parser.add_argument(
        "--kill-seconds", type=float, default=8.0, help="length of the Redis-kill load"
    )
    parser.add_argument("--stub-latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    count = args.processes
    results: dict[str, Any] = {}

    with ExitStack() as stack:
        stub_port = free_port()
        stack.enter_context(
            process(
                "shared-stub",
                [
                    PYTHON,
                    "-m",
                    "weather_api",
                    "stub",
                    "--port",
                    str(stub_port),
                    "--latency-ms",
                    str(args.stub_latency_ms),
                ],
                ready=f"http://127.0.0.1:{stub_port}/_stub/healthz",
            )
        )
        stub_url = f"http://127.0.0.1:{stub_port}"
        redis = Redis(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-redis-")))
        redis.start()
        stack.callback(redis.kill)
        ttl = ["--cache-ttl", str(args.ttl)]

        # One set of processes per mode for both measurements: the TTL is the steady load's
        # short one throughout, and the burst city is one the steady load never asks for.
        for mode, extra in (("in-process", ttl), ("shared", [*ttl, "--cache-url", redis.url])):
            with fleet(mode, count, stub_url, *extra) as urls:
                results[mode] = measure_set(
                    mode,
                    urls,
                    stub_url,
                    ttl=args.ttl,
                    connections=args.connections,
                    burst=args.burst,
                )

        print(
            f"shared: Redis killed at {args.kill_seconds / 4:g} s of a {args.kill_seconds:g} s "
            f"load, restarted at {args.kill_seconds / 2:g} s",
            file=sys.stderr,
            flush=True,
        )
        # A one-second TTL keeps the in-process tier missing, so Redis is asked all along.
        extra = ["--cache-ttl", "1", "--cache-redis-backoff", "0.5", "--cache-url", redis.url]
        with fleet("kill", count, stub_url, *extra) as urls:

            def during_outage() -> dict[str, Any]:
                return {
                    "readyz": [httpx.get(f"{u}/readyz", timeout=5).status_code for u in urls],
                    "degraded": [metric(u, "weather_api_shared_cache_degraded") for u in urls],
                }

            run = asyncio.run(
                load(
                    urls,
                    seconds=args.kill_seconds,
                    connections=args.connections,
                    events={
                        args.kill_seconds / 4: redis.kill,
                        args.kill_seconds / 4 + 1.0: during_outage,
                        args.kill_seconds / 2: redis.start,
                    },
                )
            )
            outage = run["events"][args.kill_seconds / 4 + 1.0]
            recovered_in = until_recovered(urls, within=10.0)
            results["redis_killed"] = {
                "requests": run["requests"],
                "failures": run["failures"],
                "statuses": run["statuses"],
                "readyz_during_outage": outage["readyz"],
                "degraded_during_outage": outage["degraded"],
                "redis_errors": [metric(u, "weather_api_shared_cache_errors_total") for u in urls],
                "degraded_after": [metric(u, "weather_api_shared_cache_degraded") for u in urls],
                "recovered_after_load_s": recovered_in,
                "shared_hits": [
                    metric(u, "weather_api_shared_cache_events_total", event="hits") for u in urls
                ],
            }

    local, shared, killed = results["in-process"], results["shared"], results["redis_killed"]
    targets = [
        (
            f"{args.burst} cold requests over {count} processes, shared -> exactly 1 upstream call",
            shared["cold_burst"]["upstream_calls"] == 1
            and shared["cold_burst"]["ok"] == args.burst,
        ),
        (
            f"... in-process only -> up to {count} upstream calls",
            1 <= local["cold_burst"]["upstream_calls"] <= count
            and local["cold_burst"]["ok"] == args.burst,
        ),
        (
            "steady load, shared: <= 1.1 upstream calls per location per TTL",
            shared["steady"]["calls_per_location_per_ttl"] <= 1.1
            and shared["steady"]["failures"] == 0,
        ),
        (
            "Redis killed and restarted under load: 0 failed requests, /readyz 200",
            killed["failures"] == 0 and set(killed["readyz_during_outage"]) == {200},
        ),
        (
            "... the degraded gauge showed it, and every process came back",
            all(d == 1 for d in killed["degraded_during_outage"])
            and not any(killed["degraded_after"]),
        ),
    ]

    print(
        f"\n{count} processes, stub latency {args.stub_latency_ms:g} ms, steady load "
        f"{args.connections} connections x {len(CITIES)} cities, TTL {args.ttl:g} s\n"
    )
    columns = ("cold: ok", "upstream", "steady: rps", "upstream", "per loc/TTL")
    print(f"{'cache':<12}" + "".join(f"{c:>13}" for c in columns))
    for mode in ("in-process", "shared"):
        cold, steady = results[mode]["cold_burst"], results[mode]["steady"]
        rps = steady["requests"] / ((3 + 0.5) * args.ttl)
        print(
            f"{mode:<12}{cold['ok']:>13}{cold['upstream_calls']:>13}{rps:>13.0f}"
            f"{steady['upstream_calls']:>13}{steady['calls_per_location_per_ttl']:>13.2f}"
        )
    recovered = killed["recovered_after_load_s"]
    print(
        f"\nRedis killed: {killed['requests']} requests, {killed['failures']} failed; during "
        f"the outage /readyz {killed['readyz_during_outage']}, "
        f"degraded {killed['degraded_during_outage']}; "
        f"after: degraded {killed['degraded_after']} "
        f"({'all back' if recovered is not None else 'not all back'} "
        f"{recovered or 0:.1f} s after the load), Redis errors {killed['redis_errors']}\n"
    )
    for label, ok in targets:
        print(f"  [{'ok' if ok else 'MISSED'}] {label}")

    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load": os.getloadavg(),
        },
        "settings": vars(args),
        "cities": len(CITIES),
        **results,
        "targets": dict(targets),
    }
    (RESULTS / "shared_cache.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(ok for _, ok in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
