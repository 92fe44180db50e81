"""Pass or fail: the run against its profile's thresholds. An events plugin; import it.

At the end (`events.quitting`) the failure ratio, p95 and p99 in ms and the average rps are
compared with the thresholds of the profile named by `--thresholds`; each one can be
overridden (`--max-fail-ratio`, `--max-p95-ms`, `--max-p99-ms`, `--min-rps`). A breach is
logged as `THRESHOLD BREACHED (<profile>): ...` and sets exit code 1, otherwise 0. A load
shape that judges its own run (stress.py: `judge(thresholds)`) takes over the verdict. With
`--summary-file` the figures and the verdict are also written as JSON (reporting.py).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import reporting
from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

logger = logging.getLogger("loadtest")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What a run must stay within to pass."""

    max_fail_ratio: float
    """Unexpected failures over all requests (expected 4xx answers are successes)."""
    max_p95_ms: float
    max_p99_ms: float
    min_rps: float
    """Average over the whole run; for stress, the least throughput the knee may sit at."""

    def breaches(self, *, fail_ratio: float, p95: float, p99: float, rps: float) -> list[str]:
        """One line per threshold the figures break, naming the figure and the limit."""
        found = []
        if fail_ratio > self.max_fail_ratio:
            found.append(
                f"failure ratio {fail_ratio:.2%} > {self.max_fail_ratio:.2%} (unexpected failures)"
            )
        if p95 > self.max_p95_ms:
            found.append(f"p95 {p95:.0f} ms > {self.max_p95_ms:.0f} ms")
        if p99 > self.max_p99_ms:
            found.append(f"p99 {p99:.0f} ms > {self.max_p99_ms:.0f} ms")
        if rps < self.min_rps:
            found.append(f"throughput {rps:.1f} rps < {self.min_rps:.0f} rps")
        return found


# With --cache-ttl 0 (run.py's default) every request waits on the stub's 50-150 ms. The
# latency limits leave room for a 2-CPU machine shared by Locust, the service, the stub and
# other jobs (what it measured: docs/load-testing.md, below the seed profile's table).
PROFILES: dict[str, Thresholds] = {
    # 200 users at between(1, 3) ask for ~95 rps once spawned: a fifth of the idle machine.
    "ci": Thresholds(max_fail_ratio=0.01, max_p95_ms=500, max_p99_ms=1000, min_rps=60),
    # 1000 users at between(5, 15) ask for ~100 rps once spawned; the ramp lowers the average.
    "seed": Thresholds(max_fail_ratio=0.01, max_p95_ms=500, max_p99_ms=1000, min_rps=50),
    # Per step: the first step over these is past the knee; min_rps: least capacity accepted.
    "stress": Thresholds(max_fail_ratio=0.01, max_p95_ms=500, max_p99_ms=1000, min_rps=80),
}


def thresholds_from(options: Any) -> Thresholds:
    """The profile's thresholds with any `--max-*`/`--min-rps` override applied."""
    base = PROFILES[options.thresholds]
    overrides = {
        name: float(value)
        for name in ("max_fail_ratio", "max_p95_ms", "max_p99_ms", "min_rps")
        if (value := getattr(options, name, None)) is not None
    }
    return Thresholds(**{**asdict(base), **overrides})


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument(
        "--thresholds",
        choices=sorted(PROFILES),
        default="ci",
        help="Which profile's pass/fail thresholds to apply",
    )
    for name, meaning in (
        ("max-fail-ratio", "most unexpected failures, as a fraction of requests"),
        ("max-p95-ms", "highest 95th percentile response time"),
        ("max-p99-ms", "highest 99th percentile response time"),
        ("min-rps", "least average requests per second"),
    ):
        parser.add_argument(f"--{name}", type=float, default=None, help=f"Override: {meaning}")


@events.quitting.add_listener
def _judge(environment: Environment, **_kwargs: Any) -> None:
    """Compare the run with its thresholds; set the exit code; say why on a breach."""
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    options = environment.parsed_options
    thresholds = thresholds_from(options)
    total = environment.stats.total
    figures = {
        "fail_ratio": total.fail_ratio,
        "p95": total.get_response_time_percentile(0.95) or 0,
        "p99": total.get_response_time_percentile(0.99) or 0,
        "rps": total.total_rps,
    }
    judge = getattr(environment.shape_class, "judge", None)
    breaches = judge(thresholds) if callable(judge) else thresholds.breaches(**figures)
    if total.num_requests == 0:
        breaches.append("no requests were made")
    for line in breaches:
        logger.error("THRESHOLD BREACHED (%s): %s", options.thresholds, line)
    if not breaches:
        logger.info("thresholds (%s) met", options.thresholds)
    environment.process_exit_code = 1 if breaches else 0
    if options.summary_file:
        reporting.write_summary(
            environment,
            options.summary_file,
            profile=options.thresholds,
            thresholds=asdict(thresholds),
            breaches=breaches,
        )
