"""The load test itself: its thresholds bite, `make loadtest` fails on upstream errors, the
stress profile steps, and the runner stops everything it started when interrupted."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from tests.loadtest.conftest import RUNNER, SHORT, TIMEOUT, Finished, only_run_dir

pytestmark = pytest.mark.slow


def test_injected_latency_breaks_the_p95_threshold(run_loadtest: Callable[..., Finished]) -> None:
    """A stub answering in 700 ms fails the ci profile's p95 (500 ms), says so, keeps reports."""
    run = run_loadtest(
        "--profile", "ci", *SHORT, "--stub-latency-ms", "700", "--stub-jitter-ms", "0"
    )
    assert run.returncode == 1, run.output
    assert re.search(r"THRESHOLD BREACHED \(ci\): p95 \d+ ms > 500 ms", run.output), run.output
    assert "FAIL: threshold breached: p95" in run.output
    assert run.reports is not None
    for name in ("report.html", "locust_stats.csv", "stats.json", "summary.json", "service-1.log"):
        assert (run.reports / name).is_file(), name


def test_make_loadtest_with_stub_errors_exits_non_zero(run_make: Callable[..., Finished]) -> None:
    """`make loadtest PROFILE=ci STUB_ERROR_RATE=0.5` (shortened) breaches the failure ratio."""
    run = run_make(
        "PROFILE=ci",
        "STUB_ERROR_RATE=0.5",
        "RUN_TIME=5s",
        "USERS=30",
        "SPAWN_RATE=30",
        "PROCESSES=1",
    )
    assert run.returncode != 0, run.output
    assert re.search(r"failure ratio \d+\.\d+% > 1\.00% \(unexpected failures\)", run.output), (
        run.output
    )
    assert "HTTP 502 (expected 200)" in run.output  # the summary names the failures


def test_stress_steps_up_and_reports_each_step(run_loadtest: Callable[..., Finished]) -> None:
    """The stress profile adds users step by step, stops at its cap when nothing breaks, and
    draws its knee chart."""
    steps = ("--step-users", "5", "--step-seconds", "3", "--step-settle-seconds", "1")
    lenient = ("--min-rps", "0", "--max-p95-ms", "5000", "--max-p99-ms", "10000")
    run = run_loadtest(
        "--profile", "stress", "--processes", "1", "--", *steps, "--step-max-users", "10", *lenient
    )
    assert run.returncode == 0, run.output
    assert re.search(r"step  1:\s+5 users", run.output), run.output
    assert re.search(r"step  2:\s+10 users", run.output), run.output
    assert "stress: reached 10 users without a breach" in run.output
    assert run.reports is not None
    for chart in ("over-time.png", "knee.png"):
        assert f"chart: {run.reports / chart}" in run.output


def test_interrupt_stops_everything_and_still_reports(reports_dir: Path, tmp_path: Path) -> None:
    """SIGINT mid-run: exit 130, stub and service ports closed, Locust's report and the chart
    still written."""
    output = tmp_path / "output.log"
    with output.open("w") as sink:
        runner = subprocess.Popen(
            [
                sys.executable,
                str(RUNNER),
                "--reports-dir",
                str(reports_dir),
                *SHORT[2:],
                "--run-time",
                "60s",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while "All users spawned" not in output.read_text():
            assert runner.poll() is None, output.read_text()
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.1)
        runner.send_signal(signal.SIGINT)
        assert runner.wait(timeout=TIMEOUT) == 130, output.read_text()
    finally:
        if runner.poll() is None:  # pragma: no cover - only when the runner hangs
            runner.kill()
            runner.wait()
    text = output.read_text()
    ports = re.search(
        r"stub on http://127\.0\.0\.1:(\d+); service on http://127\.0\.0\.1:(\d+)", text
    )
    assert ports is not None, text
    for port in ports.groups():
        with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
            sock.connect(("127.0.0.1", int(port)))
    assert "interrupted" in text
    assert "NO VERDICT: the run did not finish (exit 130)" in text
    run_dir = only_run_dir(reports_dir)
    assert run_dir is not None
    assert (run_dir / "report.html").is_file()
    assert (run_dir / "over-time.png").is_file()  # the chart of what ran, titled as cut short


def test_run_time_syntax_is_locusts(runner_module: ModuleType) -> None:
    """The runner's time limit reads run-time as Locust does: 90, 60s, 4m, 1h30m."""
    assert [runner_module.seconds(t) for t in ("90", "60s", "4m", "1h30m")] == [90, 60, 240, 5400]
    with pytest.raises(ValueError, match="not a run time"):
        runner_module.seconds("soon")


def test_every_profile_applies_its_own_thresholds(runner_module: ModuleType) -> None:
    """Each profiles/<name>.conf selects the thresholds named <name>."""
    profiles = Path(RUNNER).parent / "profiles"
    for conf in profiles.glob("*.conf"):
        assert runner_module.conf_value(conf, "thresholds") == conf.stem
    assert {p.stem for p in profiles.glob("*.conf")} == {"ci", "seed", "stress"}
