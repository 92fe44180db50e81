"""What a run prints and leaves behind, beyond Locust's own reports. An events plugin.

Every `--progress-interval` seconds (10; 0: none) a progress line: users, and the last ~10 s of
throughput, failures and latency. At the end, with `--summary-file`, the run's figures per
endpoint and in total, the failures, the X-Cache values seen, the load shape's report (stress
steps) and the verdict (verdict.py) as JSON, which loadtest/run.py prints as its summary.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import checks
import gevent
from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

logger = logging.getLogger("loadtest")


@dataclass
class _RunState:
    """What this process saw during the run, beyond Locust's own statistics."""

    peak_users: int = 0
    progress: list[gevent.Greenlet] = field(default_factory=list)


_run = _RunState()


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument(
        "--summary-file", default="", help="Write the run's figures and verdict here as JSON"
    )
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=10.0,
        help="Seconds between progress lines (0: none)",
    )


@events.spawning_complete.add_listener
def _remember_peak(user_count: int, **_kwargs: Any) -> None:
    _run.peak_users = max(_run.peak_users, user_count)


@events.test_start.add_listener
def _start_progress(environment: Environment, **_kwargs: Any) -> None:
    options = environment.parsed_options
    interval = options.progress_interval if options is not None else 0
    if interval > 0 and not isinstance(environment.runner, WorkerRunner):
        _run.progress.append(gevent.spawn(_print_progress, environment, interval))


@events.test_stop.add_listener
def _stop_progress(**_kwargs: Any) -> None:
    while _run.progress:
        _run.progress.pop().kill(block=False)


def _print_progress(environment: Environment, interval: float) -> None:
    """Every `interval` s: users, and the last ~10 s of throughput, failures and latency."""
    total = environment.stats.total
    while True:
        gevent.sleep(interval)
        runner = environment.runner
        rps = total.current_rps
        fails = total.current_fail_per_sec
        p50 = total.get_current_response_time_percentile(0.5) or 0
        p95 = total.get_current_response_time_percentile(0.95) or 0
        logger.info(
            "progress: %d users, %.0f rps, %.2f%% failed, p50 %d ms, p95 %d ms (last ~10 s)",
            runner.user_count if runner is not None else 0,
            rps,
            100 * fails / rps if rps else 0.0,
            p50,
            p95,
        )


def write_summary(
    environment: Environment,
    path: str,
    *,
    profile: str,
    thresholds: dict[str, float],
    breaches: list[str],
) -> None:
    """Write `summary(...)` to `path` as JSON."""
    data = summary(environment, profile=profile, thresholds=thresholds, breaches=breaches)
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


def summary(
    environment: Environment,
    *,
    profile: str,
    thresholds: dict[str, float],
    breaches: list[str],
) -> dict[str, Any]:
    """The run's figures, per endpoint and in total, with the verdict, for run.py to print."""
    stats = environment.stats

    def row(entry: Any) -> dict[str, Any]:
        return {
            "name": entry.name,
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "fail_ratio": entry.fail_ratio,
            "rps": entry.total_rps,
            "p50": entry.get_response_time_percentile(0.5) or 0,
            "p95": entry.get_response_time_percentile(0.95) or 0,
            "p99": entry.get_response_time_percentile(0.99) or 0,
            "max": entry.max_response_time or 0,
        }

    errors = sorted(stats.errors.values(), key=lambda e: e.occurrences, reverse=True)
    report = getattr(environment.shape_class, "report", None)
    runner = environment.runner
    return {
        "profile": profile,
        "thresholds": thresholds,
        "breaches": breaches,
        "peak_users": _run.peak_users,
        "duration_s": (stats.total.last_request_timestamp or 0) - (stats.total.start_time or 0),
        "total": row(stats.total),
        "endpoints": [row(e) for e in sorted(stats.entries.values(), key=lambda e: e.name)],
        "errors": [
            {"name": e.name, "error": str(e.error), "occurrences": e.occurrences}
            for e in errors[:8]
        ],
        "x_cache": dict(checks.cache_states),
        "locust_cpu_warning": bool(runner is not None and runner.cpu_warning_emitted),
        "shape": report() if callable(report) else None,
    }
