"""Run one headless Locust profile against the stub upstream and N service processes.

    .venv/bin/python loadtest/run.py --profile ci [--processes 2] [--stub-error-rate 0.5] ...

(`make loadtest PROFILE=ci` runs this.) In order: start `weather-api stub` with a realistic
latency (100 +- 50 ms by default) and any injected errors; start `--processes` service processes
sharing one port (`serve --reuse-port`, pointed at the stub, caching off so that every request
reaches the upstream); wait until each one listens and /readyz answers; run Locust with
loadtest/locust.conf and profiles/<profile>.conf, writing HTML, CSV and JSON reports and every
process's log into loadtest/reports/<timestamp>-<profile>/; draw charts of the run there
(charts.py: over-time.png, and knee.png for stress); print a one-screen summary; stop
everything it started, also on failure, Ctrl-C or SIGTERM.

Exit status: Locust's (0: thresholds met, 1: a threshold was breached), 2 when the set-up
failed, 124 when Locust outlived `--timeout`, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import signal
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from procfs import cpu_seconds, waited_children_cpu
from summary import print_summary

from processes import (
    HOST,
    Child,
    SetupFailed,
    child_env,
    free_port,
    run_locust,
    start,
    wait_until_ready,
)

HERE = Path(__file__).resolve().parent
PROFILES = tuple(sorted(p.stem for p in (HERE / "profiles").glob("*.conf")))
STARTED_LINE = "Application startup complete"  # uvicorn's, once the lifespan has run


class Interrupted(Exception):
    """SIGTERM or SIGHUP arrived: stop like on Ctrl-C."""


# --- locust's options ---------------------------------------------------------------------


def conf_value(path: Path, key: str) -> str | None:
    """A `key = value` setting of a Locust conf file, as Locust reads it (no sections)."""
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*[=:]\s*(.*?)\s*$")
    for line in path.read_text().splitlines():
        if match := pattern.match(line):
            return match.group(1)
    return None


def seconds(run_time: str) -> float:
    """Locust's run-time syntax (`90`, `60s`, `4m`, `1h30m`) in seconds."""
    if run_time.isdigit():
        return float(run_time)
    parts = re.fullmatch(r"(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?", run_time.strip())
    if not parts or not any(parts.groups()):
        raise ValueError(f"not a run time: {run_time!r}")
    hours, minutes, secs = (int(g or 0) for g in parts.groups())
    return hours * 3600.0 + minutes * 60.0 + secs


# --- the run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What to run; see `parse_args`."""

    profile: str
    processes: int
    provider: str
    cache_ttl: float
    stub_latency_ms: float
    stub_jitter_ms: float
    stub_error_rate: float
    users: int | None
    spawn_rate: float | None
    run_time: str | None
    reports_dir: Path
    timeout: float | None
    service_log_level: str
    locust_args: tuple[str, ...]


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """The command line; everything after `--` goes to Locust as it is."""
    parser = argparse.ArgumentParser(
        prog="loadtest/run.py", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--profile", choices=PROFILES, default="ci")
    parser.add_argument("--processes", type=int, default=2, help="service processes (default 2)")
    parser.add_argument(
        "--provider", choices=("openweathermap", "openmeteo"), default="openweathermap"
    )
    parser.add_argument(
        "--cache-ttl",
        type=float,
        default=0.0,
        help="the service's cache TTL; 0 (default) sends every request to the upstream",
    )
    parser.add_argument("--stub-latency-ms", type=float, default=100.0)
    parser.add_argument("--stub-jitter-ms", type=float, default=50.0)
    parser.add_argument("--stub-error-rate", type=float, default=0.0)
    parser.add_argument("--users", type=int, help="override the profile's users")
    parser.add_argument("--spawn-rate", type=float, help="override the profile's spawn rate")
    parser.add_argument("--run-time", help="override the profile's run time (60s, 4m, ...)")
    parser.add_argument("--reports-dir", type=Path, default=HERE / "reports")
    parser.add_argument(
        "--timeout", type=float, help="stop Locust after this many seconds (default: run time+90)"
    )
    parser.add_argument(
        "--service-log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="the service's log level (default info: one line per request in service-N.log)",
    )
    args, rest = parser.parse_known_args(argv)
    if rest and rest[0] == "--":
        rest = rest[1:]
    elif rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)} (put Locust's after --)")
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    return Options(
        profile=args.profile,
        processes=args.processes,
        provider=args.provider,
        cache_ttl=args.cache_ttl,
        stub_latency_ms=args.stub_latency_ms,
        stub_jitter_ms=args.stub_jitter_ms,
        stub_error_rate=args.stub_error_rate,
        users=args.users,
        spawn_rate=args.spawn_rate,
        run_time=args.run_time,
        reports_dir=args.reports_dir,
        timeout=args.timeout,
        service_log_level=args.service_log_level,
        locust_args=tuple(rest),
    )


def _number(value: float) -> str:
    """`100` rather than `100.0` on command lines."""
    return str(int(value)) if float(value).is_integer() else str(value)


def reports_dir_for(options: Options) -> Path:
    """A new `<timestamp>-<profile>` directory under the reports directory."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = options.reports_dir.resolve() / f"{stamp}-{options.profile}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


@contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP interrupt the block once; later ones are ignored until it
    ends, so that stopping what the run started is not itself cut short."""
    watched = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        for sig in watched:
            signal.signal(sig, signal.SIG_IGN)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Interrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in watched}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def start_stub(options: Options, *, port: int, reports: Path) -> Child:
    """`weather-api stub` with the run's latency and injected errors."""
    argv = [
        *(sys.executable, "-m", "weather_api", "stub", "--host", HOST, "--port", str(port)),
        *("--latency-ms", _number(options.stub_latency_ms)),
        *("--jitter-ms", _number(options.stub_jitter_ms)),
    ]
    if options.stub_error_rate > 0:
        argv += ["--error-rate", _number(options.stub_error_rate)]
    return start("stub", argv, log=reports / "stub.log", env=child_env())


def start_services(options: Options, *, port: int, stub_url: str, reports: Path) -> list[Child]:
    """`--processes` service processes sharing `port`, pointed at the stub."""
    # Any key will do for the stub; the service refuses to start without one.
    env = child_env(WEATHER_API_OPENWEATHERMAP_API_KEY="loadtest-not-a-secret")
    argv = [
        *(sys.executable, "-m", "weather_api", "serve", "--host", HOST, "--port", str(port)),
        *("--reuse-port", "--provider", options.provider, "--upstream-url", stub_url),
        *("--cache-ttl", _number(options.cache_ttl)),
        *("--log-level", options.service_log_level, "--drain-delay", "0"),
    ]
    return [
        start(f"service {n}", argv, log=reports / f"service-{n}.log", env=env)
        for n in range(1, options.processes + 1)
    ]


def locust_command(
    options: Options, *, profile_conf: Path, base_url: str, reports: Path
) -> list[str]:
    """Locust, headless, with the profile's conf, the run's overrides and every report."""
    argv = [
        *(sys.executable, "-m", "locust", "--config", str(profile_conf.relative_to(HERE))),
        *("--host", base_url, "--headless"),
        *("--html", str(reports / "report.html"), "--csv", str(reports / "locust")),
        "--csv-full-history",  # per-endpoint rows, and percentiles of the last ~10 s: charts.py
        *("--json-file", str(reports / "stats")),  # Locust adds ".json"
        *("--summary-file", str(reports / "summary.json")),
    ]
    if options.users is not None:
        argv += ["--users", str(options.users)]
    if options.spawn_rate is not None:
        argv += ["--spawn-rate", _number(options.spawn_rate)]
    if options.run_time is not None:
        argv += ["--run-time", options.run_time]
    return [*argv, *options.locust_args]


def run(options: Options) -> int:
    """Start, wait, load, report, stop; the exit status."""
    profile_conf = HERE / "profiles" / f"{options.profile}.conf"
    reports = reports_dir_for(options)
    stub_port, port = free_port(), free_port()
    stub_url, base_url = f"http://{HOST}:{stub_port}", f"http://{HOST}:{port}"
    run_time = options.run_time or conf_value(profile_conf, "run-time")
    timeout = options.timeout or (seconds(run_time) + 90 if run_time else 30 * 60.0)
    settings = {
        "profile": options.profile,
        "processes": str(options.processes),
        "provider": options.provider,
        "cache-ttl": _number(options.cache_ttl),
        "stub": f"{_number(options.stub_latency_ms)}+-{_number(options.stub_jitter_ms)}ms",
        "stub-errors": f"{options.stub_error_rate:.0%}",
        "load-before": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }
    print(f"run.py: {' '.join(f'{k}={v}' for k, v in settings.items())}", flush=True)
    print(f"run.py: reports and logs in {reports}", flush=True)
    started: list[Child] = []
    exit_code = 2
    stub_stats: dict[str, Any] | None = None
    cpu: dict[str, float | None] = {}
    with interruptible():
        try:
            started.append(start_stub(options, port=stub_port, reports=reports))
            wait_until_ready(f"{stub_url}/_stub/healthz", children=started, timeout=30)
            services = start_services(options, port=port, stub_url=stub_url, reports=reports)
            started.extend(services)
            logs_start = options.service_log_level in ("debug", "info")
            wait_until_ready(
                f"{base_url}/readyz",
                children=services,
                timeout=60,
                shared_port=port,
                started_line=STARTED_LINE if logs_start else None,
            )
            print(
                f"run.py: stub on {stub_url}; service on {base_url} "
                f"({options.processes} processes sharing the port)",
                flush=True,
            )
            command = locust_command(
                options, profile_conf=profile_conf, base_url=base_url, reports=reports
            )
            exit_code, timed_out = run_locust(
                command, log=reports / "locust.log", env=child_env(), timeout=timeout
            )
            if timed_out:
                exit_code = 124
            cpu["locust"] = waited_children_cpu()
            for child in started:
                cpu[child.name] = cpu_seconds(child.process.pid)
            stub_stats = _stub_stats(stub_url)
        except SetupFailed as exc:
            print(f"run.py: set-up failed: {exc}", file=sys.stderr, flush=True)
            return 2
        except (KeyboardInterrupt, Interrupted) as exc:
            print(f"run.py: interrupted ({exc or 'SIGINT'}); stopping what it started", flush=True)
            exit_code = 130
        finally:
            for child in reversed(started):
                child.stop(sig=signal.SIGINT, grace=10)
    summary = _read_json(reports / "summary.json")
    print_summary(
        summary=summary,
        settings=settings,
        stub_stats=stub_stats,
        cpu=cpu,
        reports=reports,
        charts=draw_charts(reports, summary, exit_code=exit_code),
        exit_code=exit_code,
    )
    return exit_code


def draw_charts(
    reports: Path, summary: dict[str, Any] | None, *, exit_code: int
) -> list[Path] | str:
    """The run's charts (charts.py, next to this file), or why there are none. A chart never
    changes the verdict: any failure to draw one is reported and the run goes on."""
    try:
        import charts  # here: matplotlib loads only once the run is over

        drawn: list[Path] = charts.draw(reports, summary, exit_code=exit_code)
    except Exception as exc:  # any: see above
        return f"{type(exc).__name__}: {exc}"
    return drawn


def _stub_stats(stub_url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{stub_url}/_stub/stats", timeout=5) as response:  # noqa: S310
            stats: dict[str, Any] = json.load(response)
            return stats
    except (OSError, ValueError):
        return None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: `python loadtest/run.py ...`."""
    if (
        importlib.util.find_spec("locust") is None
        or importlib.util.find_spec("weather_api") is None
    ):
        print(
            "run.py: run it with the project's Python, .venv/bin/python (make venv)",
            file=sys.stderr,
        )
        return 2
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
