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
import http.client
import importlib.util
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

HERE = Path(__file__).resolve().parent
PROFILES = tuple(sorted(p.stem for p in (HERE / "profiles").glob("*.conf")))
HOST = "127.0.0.1"
LISTEN_STATE = "0A"  # TCP_LISTEN in /proc/net/tcp
STARTED_LINE = "Application startup complete"  # uvicorn's, once the lifespan has run


class SetupFailed(Exception):
    """The stub or a service process did not come up."""


class Interrupted(Exception):
    """SIGTERM or SIGHUP arrived: stop like on Ctrl-C."""


# --- processes ----------------------------------------------------------------------------


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


def listening_sockets(port: int) -> int | None:
    """How many sockets listen on `port` (one per reuse-port process); None without /proc."""
    count, seen = 0, False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        seen = True
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == LISTEN_STATE and int(local.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count if seen else None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a running process has used so far (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # Fields 14 and 15 of stat(5) (utime, stime); the split above drops the first two.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def waited_children_cpu() -> float:
    """CPU time of the children waited for so far (here: Locust, the first to end)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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


# --- locust -------------------------------------------------------------------------------


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


# --- the summary --------------------------------------------------------------------------


def print_summary(
    *,
    summary: dict[str, Any] | None,
    settings: dict[str, str],
    stub_stats: dict[str, Any] | None,
    cpu: dict[str, float | None],
    reports: Path,
    charts: Sequence[Path] | str = (),
    exit_code: int,
) -> None:
    """One screen: the set-up, the figures per endpoint, the thresholds and the verdict.

    `charts` are the files charts.py drew, or why it drew none.
    """
    rule = "-" * 96
    print(rule)
    print("  ".join(f"{k}={v}" for k, v in settings.items()))
    if summary is None:
        print(f"no summary from Locust (exit {exit_code}); see {reports / 'locust.log'}")
        _print_charts(charts)
        print(rule)
        return
    total = summary["total"]
    print(
        f"{total['requests']} requests in {summary['duration_s']:.0f} s, "
        f"peak {summary['peak_users']} users: {total['rps']:.1f} rps, "
        f"{total['failures']} failed ({total['fail_ratio']:.2%}), "
        f"p50 {total['p50']:.0f} / p95 {total['p95']:.0f} / p99 {total['p99']:.0f} ms"
    )
    print(f"{'endpoint':<48}{'reqs':>8}{'fails':>7}{'rps':>8}{'p50':>6}{'p95':>6}{'p99':>6}")
    for row in summary["endpoints"]:
        print(
            f"{row['name'][:47]:<48}{row['requests']:>8}{row['failures']:>7}{row['rps']:>8.1f}"
            f"{row['p50']:>6.0f}{row['p95']:>6.0f}{row['p99']:>6.0f}"
        )
    for error in summary["errors"][:5]:
        print(f"  failure x{error['occurrences']}: {error['name']}: {error['error'][:70]}")
    if summary["x_cache"]:
        print("X-Cache: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["x_cache"].items())))
    if stub_stats is not None:
        print(
            f"stub: {stub_stats.get('requests_total')} requests, "
            f"max {stub_stats.get('max_in_flight')} in flight, "
            f"{stub_stats.get('errors_injected')} errors injected"
        )
    shape = summary.get("shape")
    if shape:
        _print_steps(shape)
    limits = summary["thresholds"]
    print(
        f"thresholds ({summary['profile']}): failures <= {limits['max_fail_ratio']:.2%}, "
        f"p95 <= {limits['max_p95_ms']:.0f} ms, p99 <= {limits['max_p99_ms']:.0f} ms, "
        f"rps >= {limits['min_rps']:.0f}"
    )
    used = ", ".join(f"{name} {sec:.0f}" for name, sec in cpu.items() if sec is not None)
    budget = (os.cpu_count() or 1) * summary["duration_s"]
    print(
        f"machine: {os.cpu_count()} CPUs shared by Locust, the service and the stub, "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end"
    )
    if used:
        print(f"CPU seconds: {used} (the machine had {budget:.0f})")
    if summary["locust_cpu_warning"]:
        print("Locust itself hit 90% of a CPU: it, rather than the service, may have set the pace")
    print(f"reports: {reports}/ (report.html, locust_stats.csv, stats.json, *.log)")
    _print_charts(charts)
    if exit_code not in (0, 1):
        # Cut short (Ctrl-C, SIGTERM, --timeout): the figures cover only part of the profile.
        for line in summary["breaches"]:
            print(f"so far: threshold breached: {line}")
        print(f"NO VERDICT: the run did not finish (exit {exit_code})")
    elif summary["breaches"]:
        for line in summary["breaches"]:
            print(f"FAIL: threshold breached: {line}")
    else:
        print("PASS: every threshold met")
    print(rule)


def _print_charts(charts: Sequence[Path] | str) -> None:
    if isinstance(charts, str):
        print(f"no chart: {charts}")
        return
    for chart in charts:
        print(f"chart: {chart}")


def _print_steps(shape: dict[str, Any]) -> None:
    for number, step in enumerate(shape["steps"], 1):
        mark = "  <- " + "; ".join(step["breaches"]) if step["breaches"] else ""
        print(
            f"  step {number:>2}: {step['users']:>5} users {step['rps']:>7.1f} rps "
            f"{step['fail_ratio']:>7.2%} failed  p95 {step['p95']:>5.0f} ms{mark}"
        )
    knee = shape.get("knee")
    if knee and knee["last_good"]:
        good, bad = knee["last_good"], knee["first_bad"]
        print(
            f"knee: between {good['users']} users ({good['rps']:.0f} rps, p95 {good['p95']:.0f} ms)"
            f" and {bad['users']} users ({bad['rps']:.0f} rps, p95 {bad['p95']:.0f} ms)"
        )
    elif shape.get("stopped_because"):
        print(f"stress: {shape['stopped_because']}")


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
