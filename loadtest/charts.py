"""Charts of a load-test run, as PNG files next to Locust's report (run.py draws them).

- `over-time.png`, every profile: users, requests/s (and failures/s), p50 and p95 over the run,
  from Locust's `locust_stats_history.csv` (written with `--csv-full-history`, so that its
  percentiles are those of the last ~10 s rather than of the whole run so far), with the
  profile's p95 threshold as a line.
- `knee.png`, the stress profile: requests/s and p95 of each step (summary.json's `shape`), the
  p95 threshold and the capacity floor as lines, the step that broke a threshold marked.

Matplotlib (the `loadtest` extra, not a dependency of the service) draws on its Agg canvas: no
display needed. `python loadtest/charts.py REPORT_DIR` draws them again for a finished run.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

HISTORY_CSV = "locust_stats_history.csv"
OVER_TIME = "over-time.png"
KNEE = "knee.png"
DPI = 110

# Colours that stay apart for most colour-blind readers (Okabe and Ito).
BLUE, ORANGE, GREEN, RED, GREY = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#7F7F7F"


def _number(value: str) -> float | None:
    """A CSV cell as a number; None for Locust's "N/A" (no request yet) and empty cells."""
    try:
        return float(value)
    except ValueError:
        return None


def read_history(path: Path) -> dict[str, list[float | None]]:
    """The run's aggregated rows of Locust's stats history, as columns.

    Keys: seconds (since the first row), users, rps, fails, p50, p95. With `--csv-full-history`
    the file also has a row per endpoint every second; only the "Aggregated" ones are kept.
    """
    columns: dict[str, list[float | None]] = {
        key: [] for key in ("seconds", "users", "rps", "fails", "p50", "p95")
    }
    start: float | None = None
    with path.open(newline="") as rows:
        for row in csv.DictReader(rows):
            if row.get("Name") != "Aggregated":
                continue
            stamp = _number(row["Timestamp"]) or 0.0
            start = stamp if start is None else start
            columns["seconds"].append(stamp - start)
            columns["users"].append(_number(row["User Count"]))
            columns["rps"].append(_number(row["Requests/s"]))
            columns["fails"].append(_number(row["Failures/s"]))
            # 0 ms: no request in the last ~10 s (no answer of this service takes under 0.5 ms).
            columns["p50"].append(_number(row["50%"]) or None)
            columns["p95"].append(_number(row["95%"]) or None)
    return columns


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=DPI)
    return path


def over_time_chart(
    history: dict[str, list[float | None]],
    path: Path,
    *,
    title: str,
    p95_limit: float | None = None,
    min_rps: float | None = None,
    average_rps: float | None = None,
) -> Path:
    """Three panels over the run's seconds: users; requests/s and failures/s (with the run's
    average and the least average the thresholds accept); p50 and p95 (with the p95 limit)."""
    seconds = history["seconds"]
    few = {"marker": "o"} if len(seconds) < 3 else {}  # a run cut short: points, not lines
    figure = Figure(figsize=(9, 7.5), layout="constrained")
    users, rps, latency = figure.subplots(3, 1, sharex=True, height_ratios=(1, 1.3, 1.5))
    figure.suptitle(title, fontsize=11)

    users.plot(seconds, history["users"], color=GREY, drawstyle="steps-post", **few)
    users.set_ylabel("users")
    users.set_ylim(0, max([u for u in history["users"] if u is not None] + [1]) * 1.1)
    users.set_xlim(0, max(seconds[-1], 1))

    rps.plot(seconds, history["rps"], color=BLUE, label="requests/s", **few)
    rps.plot(seconds, history["fails"], color=RED, label="failures/s", **few)
    if average_rps is not None:
        rps.axhline(
            average_rps,
            color=BLUE,
            linestyle=":",
            linewidth=1,
            label=f"run's average {average_rps:.0f}",
        )
    if min_rps is not None:
        rps.axhline(
            min_rps,
            color=RED,
            linestyle="--",
            linewidth=1,
            label=f"threshold: average ≥ {min_rps:.0f} rps",
        )
    rps.set_ylabel("per second (last ~10 s)")
    rps.set_ylim(bottom=0)

    latency.plot(seconds, history["p50"], color=GREEN, label="p50", **few)
    latency.plot(seconds, history["p95"], color=ORANGE, label="p95", **few)
    if p95_limit is not None:
        latency.axhline(
            p95_limit,
            color=RED,
            linestyle="--",
            linewidth=1,
            label=f"threshold: p95 ≤ {p95_limit:.0f} ms",
        )
    top = max([v for v in history["p95"] if v is not None] + [p95_limit or 0, 1])
    latency.set_ylim(0, top * 1.15)
    latency.set_ylabel("ms (last ~10 s)")
    latency.set_xlabel("seconds into the run")
    for axes in (users, rps, latency):
        axes.grid(alpha=0.3)
    for axes in (rps, latency):
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    return _save(figure, path)


def knee_chart(
    steps: Sequence[dict[str, Any]],
    path: Path,
    *,
    title: str,
    p95_limit: float,
    min_rps: float | None = None,
) -> Path:
    """`knee_figure` saved as a PNG at `path`."""
    return _save(knee_figure(steps, title=title, p95_limit=p95_limit, min_rps=min_rps), path)


def knee_figure(
    steps: Sequence[dict[str, Any]],
    *,
    title: str,
    p95_limit: float,
    min_rps: float | None = None,
) -> Figure:
    """Per step (by its users): requests/s as bars, p95 as a line on a second axis, the p95
    threshold and the capacity floor as lines, the step that broke a threshold in red."""
    figure = Figure(figsize=(9, 5.5), layout="constrained")
    throughput = figure.subplots()
    latency = throughput.twinx()
    positions = list(range(len(steps)))
    broken = next((step for step in steps if step["breaches"]), None)
    good = [step for step in steps if not step["breaches"]]
    if broken is not None and good:
        knee = (
            f"knee between {good[-1]['users']} users ({good[-1]['rps']:.0f} rps) and "
            f"{broken['users']} users ({broken['rps']:.0f} rps), where "
            + "; ".join(broken["breaches"])
        )
    elif broken is not None:
        knee = "the first step broke a threshold: " + "; ".join(broken["breaches"])
    else:
        knee = f"no step broke a threshold (up to {steps[-1]['users']} users)"
    figure.suptitle(f"{title}\n{knee}", fontsize=10)

    bars = throughput.bar(
        positions,
        [step["rps"] for step in steps],
        color=[RED if step["breaches"] else BLUE for step in steps],
        alpha=0.5,
    )
    throughput.bar_label(bars, fmt="%.0f", fontsize=7, padding=2)
    handles = [
        Patch(color=BLUE, alpha=0.5, label="requests/s of a step (bars)"),
        Patch(color=RED, alpha=0.5, label="the step that broke a threshold"),
    ]
    if min_rps is not None:
        handles.append(
            throughput.axhline(
                min_rps, color=BLUE, linestyle=":", label=f"capacity floor {min_rps:.0f} rps"
            )
        )
    throughput.set_ylabel("requests/s")
    throughput.set_xlabel("users in the step")
    throughput.set_xticks(positions, [str(step["users"]) for step in steps])
    throughput.set_ylim(0, max(step["rps"] for step in steps) * 1.25 or 1)

    p95 = [step["p95"] for step in steps]
    (line,) = latency.plot(positions, p95, color=ORANGE, marker="o", label="p95 of a step")
    limit = latency.axhline(
        p95_limit, color=RED, linestyle="--", label=f"p95 threshold {p95_limit:.0f} ms"
    )
    latency.set_ylabel("p95 ms")
    latency.set_ylim(0, max([*p95, p95_limit]) * 1.25)
    latency.legend(handles=[*handles, line, limit], loc="upper left", fontsize=8, framealpha=0.9)
    throughput.grid(alpha=0.3, axis="y")
    return figure


def draw(
    reports: Path, summary: dict[str, Any] | None = None, *, exit_code: int | None = None
) -> list[Path]:
    """Every chart a run's report folder has the data for; the files written. An `exit_code`
    other than 0 or 1 (interrupted, timed out) titles the figures as a run cut short."""
    if summary is None:
        try:
            summary = json.loads((reports / "summary.json").read_text())
        except (OSError, ValueError):
            summary = None
    limits = (summary or {}).get("thresholds") or {}
    profile = (summary or {}).get("profile") or reports.name.rsplit("-", 1)[-1]
    total = (summary or {}).get("total")
    title = f"make loadtest PROFILE={profile}  ({reports.name})"
    if summary and total:
        verdict = "FAIL" if summary.get("breaches") else "PASS"
        if exit_code not in (None, 0, 1):
            verdict = f"cut short (exit {exit_code}), no verdict"
        title += (
            f"\n{total['rps']:.1f} rps on average, {total['fail_ratio']:.2%} failed, "
            f"p50 {total['p50']:.0f} / p95 {total['p95']:.0f} / p99 {total['p99']:.0f} ms: "
            f"{verdict}"
        )
    written = []
    shape = (summary or {}).get("shape") or {}
    history = reports / HISTORY_CSV
    if history.is_file():
        columns = read_history(history)
        if columns["seconds"]:
            written.append(
                over_time_chart(
                    columns,
                    reports / OVER_TIME,
                    title=title,
                    p95_limit=limits.get("max_p95_ms"),
                    # stress judges each step, not the run's average
                    min_rps=limits.get("min_rps") if not shape.get("steps") else None,
                    average_rps=total["rps"] if total else None,
                )
            )
    if shape.get("steps"):
        written.append(
            knee_chart(
                shape["steps"],
                reports / KNEE,
                title=f"make loadtest PROFILE=stress: requests/s and p95 per step ({reports.name})",
                p95_limit=limits.get("max_p95_ms", 500),
                min_rps=limits.get("min_rps"),
            )
        )
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python loadtest/charts.py REPORT_DIR")
    for chart in draw(Path(sys.argv[1])):
        print(chart)
