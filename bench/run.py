"""`make bench`: the service against this machine's physical limits, all measured in one run.

Starts on 127.0.0.1: the stub upstream (50 ms), a raw ASGI hello under the same uvicorn flags,
the service twice (cache on; `--cache-ttl 0`), the cached service twice more with tracing on
(default sampler; 1%) exporting OTLP to a sink in this process, the old Flask app as it ran,
and the FastAPI rewrite a user would write first (one shared httpx.AsyncClient, no cache).
wrk loads each in turn, round after round (interleaved, so machine noise hits every case
alike), and medians are reported. Then: 1000 concurrent cold requests for one city, and RSS
after 100k requests over 10k cities. Prints a table and the ratios the targets are stated in,
writes bench/results/latest.json, and exits 1 if a target is missed. `--cases hit,hit-otel`
measures a subset of the cases (the stub always) and prints its table: nothing else is run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from processes import free_port, process

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
UVICORN_FLAGS = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--no-proxy-headers"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
KEY_ENV = {"WEATHER_API_OPENWEATHERMAP_API_KEY": "bench-key"}
TRACED = {"hit-otel": "1.0", "hit-otel-1pct": "0.01"}
"""Cached-service cases with tracing on, and their sampling ratio (of root spans)."""
CASES = ("hello", "hit", "owm_hit", "miss", "flask", "fastapi", *TRACED)


@dataclass
class Server:
    """A process the benchmark started, and where it listens."""

    name: str
    process: subprocess.Popen[bytes]
    url: str

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_mib(self) -> float:
        """Resident memory now."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")  # pragma: no cover


@contextmanager
def started(
    name: str, argv: list[str], *, ready: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Run argv until the block ends; `ready` is a URL that answers 200 once it serves."""
    with process(name, argv, ready=ready, env=env) as proc:
        yield Server(
            name, proc, ready.rsplit("/", 1)[0] if name != "stub" else ready.split("/_stub")[0]
        )


def wrk(url: str, *, connections: int, seconds: float) -> dict[str, Any]:
    """One wrk run (one thread); its summary as a dict."""
    result = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{round(seconds)}s",
            "--timeout",
            "10s",
            "-s",
            str(HERE / "wrk_report.lua"),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


@contextmanager
def otlp_sink() -> Iterator[str]:
    """An OTLP/HTTP receiver in a thread of this process that takes every export and drops it."""

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)  # an empty ExportTraceServiceResponse: zero bytes
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def tracing_env(sink: str, ratio: str) -> dict[str, str]:
    """The service's environment for tracing on, exporting to `sink`, sampling `ratio`."""
    env = {
        "OTEL_SERVICE_NAME": "weather-api-bench",
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink,
        "NO_PROXY": "127.0.0.1",
    }
    if ratio != "1.0":  # else the default, parentbased_always_on
        env |= {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": ratio}
    return env


def upstream_calls(stub: Server) -> int:
    stats: dict[str, Any] = httpx.get(f"{stub.url}/_stub/stats").json()
    return int(stats["requests_total"])


def measure(
    server: Server, path: str, stub: Server, *, connections: int, seconds: float
) -> dict[str, float]:
    """rps, latency, errors, CPU per request and upstream calls per request of one run."""
    cpu, calls = server.cpu_seconds(), upstream_calls(stub)
    run = wrk(server.url + path, connections=connections, seconds=seconds)
    cpu, calls = server.cpu_seconds() - cpu, upstream_calls(stub) - calls
    requests = max(run["requests"], 1)
    return {
        "rps": run["requests"] / run["duration_s"],
        "p50_ms": run["p50_ms"],
        "p99_ms": run["p99_ms"],
        "mean_ms": run["mean_ms"],
        "errors": run["socket_errors"] + run["non_2xx"],
        "cpu_ms_per_request": cpu * 1000 / requests,
        "upstream_calls_per_request": calls / requests,
    }


async def cold_burst(url: str, count: int) -> list[int]:
    """`count` requests for one URL, all sent at once on their own connections."""
    connector = aiohttp.TCPConnector(limit=count)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> int:
            async with session.get(url) as response:
                await response.read()
                return response.status

        return await asyncio.gather(*(one() for _ in range(count)))


def city_name(number: int) -> str:
    """A made-up city (letters only) for each number: Bencha, Benchb, ..., Benchba, ..."""
    letters = ""
    while True:
        number, digit = divmod(number, 26)
        letters += chr(97 + digit)
        if number == 0:
            return "Bench" + letters


async def flood(base_url: str, *, cities: int, total: int, concurrency: int) -> tuple[int, int]:
    """`total` requests cycling through `cities` distinct cities, `concurrency` at a time.

    Requests and errors. (wrk can stop its threads after a count, but its main thread still
    waits out the whole duration, so this loop is the exact and quicker way.)
    """
    sent = errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal sent, errors
            while sent < total:
                sent += 1
                try:
                    async with session.get(f"{base_url}/{city_name(sent % cities)}/gb/") as answer:
                        await answer.read()
                        errors += answer.status != 200
                except aiohttp.ClientError:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sent, errors


async def client_costs(stub_url: str, *, requests: int, concurrency: int) -> dict[str, float]:
    """CPU ms per upstream request of each way to call the stub, in this process.

    The service's client (httpx requests into `AiohttpTransport`, aiohttp's session under it,
    as `providers/upstream.py` sends them), aiohttp's own client on its own, and httpx's
    default client (httpcore's pool) for comparison.
    """
    from weather_api.config import Settings
    from weather_api.providers.aiohttp_transport import build_transport
    from weather_api.providers.upstream import request_url

    url = f"{stub_url}/data/2.5/weather"
    params = {"q": "London,GB", "appid": "bench-key", "units": "metric", "lang": "en"}

    async def measure(one: Any, count: int = requests) -> float:
        gate = asyncio.Semaphore(concurrency)

        async def bounded() -> None:
            async with gate:
                await one()

        await asyncio.gather(*(bounded() for _ in range(concurrency * 2)))  # warm the pool
        started = time.process_time()
        await asyncio.gather(*(bounded() for _ in range(count)))
        return (time.process_time() - started) * 1000 / count

    costs: dict[str, float] = {}
    settings = Settings(provider="openmeteo")
    async with build_transport(settings) as transport:

        async def service() -> None:
            request = httpx.Request("GET", request_url(url, params))
            response = await transport.handle_async_request(request)
            await response.aread()

        costs["httpx.Request into AiohttpTransport (the service)"] = await measure(service)
    async with aiohttp.ClientSession(trust_env=True) as session:

        async def raw() -> None:
            async with session.get(url, params=params) as response:
                await response.read()

        costs["aiohttp's own client (trust_env)"] = await measure(raw)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(timeout=5.0, limits=limits) as client:
        # A tenth of the requests: at ~10 ms each, the full count would take half a minute.
        costs["httpx AsyncClient, httpcore pool"] = await measure(
            lambda: client.get(url, params=params), requests // 10
        )
    return costs


_STARTED = time.monotonic()


def progress(message: str) -> None:
    """A progress line on stderr, with the seconds since the benchmark started."""
    print(f"[{time.monotonic() - _STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def print_cases(
    results: dict[str, dict[str, float]], *, args: argparse.Namespace, bound: float
) -> None:
    """The table of measured cases, and the latency bound of a miss."""
    print(
        f"\n{args.rounds} rounds x {args.seconds:g} s per case, {args.connections} connections, "
        f"stub latency {args.stub_latency_ms:g} ms; medians\n"
    )
    print(
        f"{'case':<15}{'rps':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'CPU ms/req':>12}{'upstream/req':>14}"
    )
    for name, r in results.items():
        print(
            f"{name:<15}{r['rps']:>9.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['errors']:>8.0f}"
            f"{r['cpu_ms_per_request']:>12.3f}{r['upstream_calls_per_request']:>14.3f}"
        )
    if "hit" in results:
        for name in [name for name in TRACED if name in results]:
            cpu = results[name]["cpu_ms_per_request"] / results["hit"]["cpu_ms_per_request"]
            target = "target <= 2x" if name == "hit-otel-1pct" else "reported, no target"
            print(f"{name}: {cpu:.2f}x the CPU of an untraced hit ({target})")
    print(
        f"\nlatency bound of a miss: {args.connections} / {results['stub']['mean_ms']:.1f} ms"
        f" = {bound:.0f} rps"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0, help="per case per round")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--stub-latency-ms", type=float, default=50.0)
    parser.add_argument(
        "--cases",
        default=",".join(CASES),
        help="comma-separated subset of the cases (the stub is always measured); a subset "
        "prints its table only: no cold burst, clients, memory, targets or report",
    )
    args = parser.parse_args()
    conns = args.connections
    chosen = [name for name in CASES if name in args.cases.split(",")]
    unknown = set(args.cases.split(",")) - set(CASES)
    if unknown or not chosen:
        parser.error(f"--cases takes names from {', '.join(CASES)}")
    (HERE / "results").mkdir(exist_ok=True)

    ports = {name: free_port() for name in ("stub", *CASES, "rss")}
    cmd = [PYTHON, "-m", "weather_api"]
    with ExitStack() as stack:
        sink = stack.enter_context(otlp_sink())
        stub = stack.enter_context(
            started(
                "stub",
                [
                    *cmd,
                    "stub",
                    "--port",
                    str(ports["stub"]),
                    "--latency-ms",
                    str(args.stub_latency_ms),
                ],
                ready=f"http://127.0.0.1:{ports['stub']}/_stub/healthz",
            )
        )

        def service(name: str, *extra: str, env: dict[str, str] | None = None) -> Server:
            argv = [
                *cmd,
                "serve",
                "--port",
                str(ports[name]),
                "--provider",
                "openweathermap",
                "--upstream-url",
                stub.url,
                "--log-level",
                "info",
                *extra,
            ]
            return stack.enter_context(
                started(
                    name,
                    argv,
                    ready=f"http://127.0.0.1:{ports[name]}/readyz",
                    env={**KEY_ENV, **(env or {})},
                )
            )

        starts = {
            "hello": lambda: stack.enter_context(
                started(
                    "hello",
                    [
                        PYTHON,
                        "-m",
                        "uvicorn",
                        "bench.hello:app",
                        "--port",
                        str(ports["hello"]),
                        *UVICORN_FLAGS,
                    ],
                    ready=f"http://127.0.0.1:{ports['hello']}/x",
                )
            ),
            "hit": lambda: service("hit"),
            "miss": lambda: service("miss", "--cache-ttl", "0"),
            "flask": lambda: stack.enter_context(
                started(
                    "flask",
                    [PYTHON, str(HERE / "flask_app.py"), str(ports["flask"])],
                    ready=f"http://127.0.0.1:{ports['flask']}/",
                    env={"UPSTREAM_URL": stub.url},
                )
            ),
            # uvicorn's defaults, as a first try runs it (uvloop and httptools when installed).
            "fastapi": lambda: stack.enter_context(
                started(
                    "fastapi",
                    [
                        PYTHON,
                        "-m",
                        "uvicorn",
                        "bench.fastapi_httpx:app",
                        "--port",
                        str(ports["fastapi"]),
                    ],
                    ready=f"http://127.0.0.1:{ports['fastapi']}/",
                    env={"UPSTREAM_URL": stub.url},
                )
            ),
        }
        for name, ratio in TRACED.items():
            starts[name] = lambda name=name, ratio=ratio: service(
                name, env=tracing_env(sink, ratio)
            )
        servers = {name: starts[name]() for name in chosen if name != "owm_hit"}
        if "owm_hit" in chosen:
            # An OpenWeatherMap client's hit: the same process and cache entry as "hit".
            servers["owm_hit"] = servers["hit"] if "hit" in servers else starts["hit"]()
        paths = dict.fromkeys(CASES, "/london/gb/") | {
            "hello": "/",
            "owm_hit": "/data/2.5/weather?q=London,GB&appid=bench",
        }
        for name in servers.keys() & {"hit", "owm_hit", *TRACED}:  # warm the hit cases' cache
            httpx.get(servers[name].url + "/london/gb/")

        runs: dict[str, list[dict[str, float]]] = {name: [] for name in [*servers, "stub"]}
        for round_number in range(1, args.rounds + 1):
            progress(f"round {round_number}/{args.rounds}")
            for name, server in servers.items():
                runs[name].append(
                    measure(server, paths[name], stub, connections=conns, seconds=args.seconds)
                )
            runs["stub"].append(
                measure(
                    stub,
                    "/data/2.5/weather?q=London,GB&appid=x",
                    stub,
                    connections=conns,
                    seconds=args.seconds,
                )
            )
        results = {name: median_of(case_runs) for name, case_runs in runs.items()}
        # Every upstream request costs at least the stub's latency: the most a cache miss can do.
        bound = conns / (results["stub"]["mean_ms"] / 1000)
        if len(chosen) < len(CASES):
            progress("done (a subset of the cases: no other measurement)")
            print_cases(results, args=args, bound=bound)
            for name in ("flask", "fastapi"):
                if "miss" in results and name in results:
                    times = (
                        results[name]["cpu_ms_per_request"] / results["miss"]["cpu_ms_per_request"]
                    )
                    print(f"CPU per request, {name} / miss: {times:.1f}x")
            return 0

        progress("cold burst: 1000 concurrent requests for one uncached city")
        before = upstream_calls(stub)
        statuses = asyncio.run(cold_burst(servers["hit"].url + "/reykjavik/is/", 1000))
        cold = {
            "requests": len(statuses),
            "ok": statuses.count(200),
            "upstream_calls": upstream_calls(stub) - before,
        }

        progress("upstream clients: 3000 requests each, 64 at a time")
        clients = asyncio.run(client_costs(stub.url, requests=3000, concurrency=conns))

        progress("memory: 100k requests over 10k cities")
        rss_server = service("rss")
        rss_before = rss_server.rss_mib()
        flood_requests, flood_errors = asyncio.run(
            flood(rss_server.url, cities=10_000, total=100_000, concurrency=conns)
        )
        memory = {
            "requests": flood_requests,
            "errors": flood_errors,
            "rss_start_mib": rss_before,
            "rss_mib": rss_server.rss_mib(),
        }

    progress("done")
    hit, miss, hello, flask = results["hit"], results["miss"], results["hello"], results["flask"]
    ratios = {
        "miss_vs_latency_bound": miss["rps"] / bound,
        "miss_vs_flask": miss["rps"] / flask["rps"],
        # How many times less CPU a miss costs than a Flask request (portable across machines,
        # where an absolute CPU figure moves 4x between machines of one kind).
        "flask_cpu_vs_miss_cpu": flask["cpu_ms_per_request"] / miss["cpu_ms_per_request"],
        "hit_vs_hello": hit["rps"] / hello["rps"],
        # CPU per hit with tracing on (every request sampled; 1%), over a hit with it off.
        **{
            f"{name}_cpu_vs_hit": results[name]["cpu_ms_per_request"] / hit["cpu_ms_per_request"]
            for name in TRACED
        },
        # The same against the FastAPI + httpx rewrite a user would write first.
        "fastapi_cpu_vs_miss_cpu": results["fastapi"]["cpu_ms_per_request"]
        / miss["cpu_ms_per_request"],
        "owm_hit_vs_hit": results["owm_hit"]["rps"] / hit["rps"],
    }
    targets = [
        ("cache miss >= 90% of the latency bound", ratios["miss_vs_latency_bound"] >= 0.9),
        ("cache miss >= 3x the Flask app", ratios["miss_vs_flask"] >= 3),
        (
            "cache miss >= 5x less CPU per request than the Flask app",
            ratios["flask_cpu_vs_miss_cpu"] >= 5,
        ),
        ("cache hit >= 30% of raw ASGI hello", ratios["hit_vs_hello"] >= 0.3),
        ("cache hit p99 <= 25 ms", hit["p99_ms"] <= 25),
        # At the default sampler (every request recorded and exported) the SDK alone costs
        # several untraced hits (docs/operations.md, "Tracing"): that figure is reported, and
        # the target holds for the sampling a busy service runs with.
        (
            "cache hit with tracing on at 1% sampling <= 2x the CPU of a hit",
            ratios["hit-otel-1pct_cpu_vs_hit"] <= 2,
        ),
        # "No more than a city hit costs", within the noise of interleaved rounds.
        ("/data/2.5/weather hit >= 90% of a city hit", ratios["owm_hit_vs_hit"] >= 0.9),
        (
            "1000 cold requests -> 1 upstream call",
            cold["upstream_calls"] == 1 and cold["ok"] == 1000,
        ),
        (
            "RSS <= 150 MiB after 100k requests / 10k cities",
            memory["rss_mib"] <= 150 and memory["errors"] == 0,
        ),
    ]

    print_cases(results, args=args, bound=bound)
    print(
        f"miss / bound {ratios['miss_vs_latency_bound']:.0%}   "
        f"miss / flask {ratios['miss_vs_flask']:.1f}x "
        f"({ratios['flask_cpu_vs_miss_cpu']:.1f}x less CPU per request)   "
        f"hit / hello {ratios['hit_vs_hello']:.0%}   "
        f"FastAPI+httpx CPU / miss CPU {ratios['fastapi_cpu_vs_miss_cpu']:.1f}x   "
        f"owm_hit / hit {ratios['owm_hit_vs_hit']:.0%}"
    )
    print(
        f"cold burst: {cold['ok']}/{cold['requests']} ok, {cold['upstream_calls']} upstream call(s)"
    )
    print(
        f"memory: {memory['requests']} requests, {memory['errors']} errors, "
        f"RSS {memory['rss_start_mib']:.0f} -> {memory['rss_mib']:.0f} MiB\n"
    )
    print("upstream client, CPU ms per request at 64 concurrent (this process):")
    for name, cost in clients.items():
        print(f"  {cost:7.3f}  {name}")
    print()
    for label, ok in targets:
        print(f"  [{'ok' if ok else 'MISSED'}] {label}")

    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load": os.getloadavg(),
        },
        "settings": vars(args),
        "cases": results,
        "latency_bound_rps": bound,
        "ratios": ratios,
        "cold_burst": cold,
        "memory": memory,
        "upstream_clients_cpu_ms": clients,
        "targets": dict(targets),
    }
    (HERE / "results" / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    from chart import draw  # bench/chart.py: matplotlib, loaded once the measuring is done

    print(f"\nresults: {HERE / 'results' / 'latest.json'}")
    print(f"chart: {draw(report, HERE / 'results' / 'latest.png')}")
    return 0 if all(ok for _, ok in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
