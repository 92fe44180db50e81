"""The one-screen summary run.py prints at the end of a load-test run."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


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
