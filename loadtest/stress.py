"""Stepped load for the stress profile: more users every step until a step breaks a threshold.

Loaded next to locustfile.py only by profiles/stress.conf (Locust uses any load shape it finds
in a locustfile, so the shape cannot live there). Each step runs `--step-seconds` at a fixed
user count; its figures are taken after `--step-settle-seconds`, once the new users are
spawned. The first step whose failure ratio, p95 or p99 is over the stress thresholds is where
the service stops keeping up: the knee lies between it and the step before. The run then ends,
and the verdict is about capacity: it fails when the last good step is below `min_rps`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from locust import LoadTestShape, events
from verdict import Thresholds, thresholds_from

logger = logging.getLogger("loadtest")


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument("--step-users", type=int, default=100, help="Users added per step")
    parser.add_argument("--step-seconds", type=float, default=20.0, help="Length of a step")
    parser.add_argument(
        "--step-settle-seconds",
        type=float,
        default=4.0,
        help="Start of each step left out of its figures (users still arriving)",
    )
    parser.add_argument(
        "--step-max-users", type=int, default=3000, help="Stop here when no step breaks"
    )


@dataclass(frozen=True, slots=True)
class Step:
    """The figures of one finished step."""

    users: int
    requests: int
    rps: float
    fail_ratio: float
    p50: float
    p95: float
    p99: float
    breaches: list[str] = field(default_factory=list)


@dataclass
class _Window:
    """Requests of the step being run, from its settle time on."""

    opens_at: float
    times: list[float] = field(default_factory=list)
    failures: int = 0


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class SteppedLoad(LoadTestShape):
    """Adds `--step-users` users every `--step-seconds` until a step breaks a threshold."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[Step] = []
        self.stopped_because = ""
        self._index = 0
        self._window = _Window(opens_at=float("inf"))
        events.request.add_listener(self._on_request)

    def reset_time(self) -> None:
        """The run starts now: the first step opens."""
        super().reset_time()
        self.steps.clear()
        self._index = 0
        self._open_window()

    def tick(self) -> tuple[int, float] | None:
        """Users wanted now, or None once a step broke a threshold or the cap is reached."""
        options = self.runner.environment.parsed_options
        index = int(self.get_run_time() // options.step_seconds)
        if index != self._index:
            step = self._close_window(users=self._users(self._index))
            self.steps.append(step)
            logger.info(
                "step %d: %d users, %.0f rps, %.2f%% failed, p50 %.0f / p95 %.0f / p99 %.0f ms%s",
                len(self.steps),
                step.users,
                step.rps,
                100 * step.fail_ratio,
                step.p50,
                step.p95,
                step.p99,
                f"  <- {'; '.join(step.breaches)}" if step.breaches else "",
            )
            if step.breaches:
                self.stopped_because = "a step broke a threshold"
                return None
            self._index = index
            self._open_window()
        users = self._users(index)
        if users > options.step_max_users:
            self.stopped_because = f"reached {options.step_max_users} users without a breach"
            return None
        # Spawn a step's users in half its settle time.
        return users, max(1.0, options.step_users / max(1.0, options.step_settle_seconds / 2))

    def judge(self, thresholds: Thresholds) -> list[str]:
        """Breaches of the run as a whole: no good step, or the knee below `min_rps`."""
        good = [s for s in self.steps if not s.breaches]
        if not self.steps:
            return ["the run ended before its first step"]
        if not good:
            return [f"the first step ({self.steps[0].users} users) already broke a threshold"]
        best = max(s.rps for s in good)
        if best < thresholds.min_rps:
            return [f"capacity {best:.0f} rps (best good step) < {thresholds.min_rps:.0f} rps"]
        return []

    def report(self) -> dict[str, Any]:
        """The steps and the knee, for the summary."""
        good = [s for s in self.steps if not s.breaches]
        broken = next((s for s in self.steps if s.breaches), None)
        knee = None
        if broken is not None:
            knee = {
                "last_good": asdict(good[-1]) if good else None,
                "first_bad": asdict(broken),
            }
        return {
            "steps": [asdict(s) for s in self.steps],
            "knee": knee,
            "stopped_because": self.stopped_because,
        }

    def _users(self, index: int) -> int:
        options = self.runner.environment.parsed_options
        return int(options.step_users * (index + 1))

    def _open_window(self) -> None:
        settle = self.runner.environment.parsed_options.step_settle_seconds if self.runner else 0
        self._window = _Window(opens_at=time.monotonic() + settle)

    def _close_window(self, *, users: int) -> Step:
        window = self._window
        seconds = max(1e-9, time.monotonic() - window.opens_at)
        ordered = sorted(window.times)
        count = len(ordered)
        fail_ratio = window.failures / count if count else 0.0
        p95, p99 = _percentile(ordered, 0.95), _percentile(ordered, 0.99)
        limits = thresholds_from(self.runner.environment.parsed_options)
        breaches = limits.breaches(fail_ratio=fail_ratio, p95=p95, p99=p99, rps=float("inf"))
        if count == 0:
            breaches.append("no requests in the step")
        return Step(
            users=users,
            requests=count,
            rps=count / seconds,
            fail_ratio=fail_ratio,
            p50=_percentile(ordered, 0.5),
            p95=p95,
            p99=p99,
            breaches=breaches,
        )

    def _on_request(self, response_time: float, exception: BaseException | None, **_: Any) -> None:
        if time.monotonic() < self._window.opens_at:
            return
        self._window.times.append(response_time)
        if exception is not None:
            self._window.failures += 1
