"""The charts: a ci run leaves one next to Locust's report and names it, a stress run's steps make
the knee chart, and `make bench`'s chart comes out of a report like bench/results/latest.json."""

from __future__ import annotations

import csv
import importlib.util
import json
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from matplotlib.colors import to_hex

from tests.loadtest.conftest import REPO, SHORT, Finished

BENCH_REPORT = Path(__file__).parent / "data" / "bench-latest.json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG file (its IHDR chunk), failing on anything else."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.fixture(scope="module")
def charts() -> ModuleType:
    """loadtest/charts.py, imported as run.py imports it."""
    spec = importlib.util.spec_from_file_location("loadtest_charts", REPO / "loadtest/charts.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_ci_run_leaves_a_chart_next_to_the_report(run_loadtest: Callable[..., Finished]) -> None:
    """A short ci run writes over-time.png into its report folder and its summary names it."""
    lenient = ("--max-p95-ms", "5000", "--max-p99-ms", "10000", "--min-rps", "0")
    run = run_loadtest("--profile", "ci", *SHORT, "--", *lenient)
    assert run.returncode == 0, run.output
    assert run.reports is not None
    chart = run.reports / "over-time.png"
    assert f"chart: {chart}" in run.output
    width, height = png_size(chart)
    assert width > 600
    assert height > 400
    with (run.reports / "locust_stats_history.csv").open() as history:
        names = {row["Name"] for row in csv.DictReader(history)}
    assert {"Aggregated", "/{city}/{country}/"} <= names  # --csv-full-history: per endpoint
    assert not (run.reports / "knee.png").exists()  # only stress has steps


def _history(path: Path, rows: list[tuple[int, int, float, float, str, str]]) -> None:
    """A stats history file with Locust's columns: (second, users, rps, fails/s, p50, p95)."""
    columns = ["Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s"]
    columns += ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"]
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([*columns, "Total Request Count", "Total Failure Count"])
        for second, users, rps, fails, p50, p95 in rows:
            for name in ("/", "Aggregated"):
                percentiles = [p50, p50, p50, p50, p95, p95, p95, p95, p95, p95, p95]
                row = [1_800_000_000 + second, users, "", name, rps, fails, *percentiles]
                writer.writerow([*row, second * 10, 0])


def test_knee_chart_marks_the_step_that_broke(charts: ModuleType, tmp_path: Path) -> None:
    """A stress report folder gets both charts; the step that broke is the red bar and the
    title names the knee and the breach; N/A percentiles (no request yet) are gaps."""
    reports = tmp_path / "20260101T000000Z-stress"
    reports.mkdir()
    _history(
        reports / "locust_stats_history.csv",
        [(0, 0, 0, 0, "N/A", "N/A"), (1, 50, 40, 0, "110", "150"), (2, 100, 85, 1, "120", "900")],
    )
    step = {"requests": 800, "fail_ratio": 0.0, "p50": 110, "p99": 300}
    summary = {
        "profile": "stress",
        "thresholds": {
            "max_fail_ratio": 0.01,
            "max_p95_ms": 500,
            "max_p99_ms": 1000,
            "min_rps": 80,
        },
        "breaches": [],
        "total": {"rps": 60.0, "fail_ratio": 0.001, "p50": 115, "p95": 600, "p99": 1200},
        "shape": {
            "steps": [
                {**step, "users": 50, "rps": 40.0, "p95": 150, "breaches": []},
                {
                    **step,
                    "users": 100,
                    "rps": 85.0,
                    "p95": 900,
                    "breaches": ["p95 900 ms > 500 ms"],
                },
            ],
            "knee": None,
            "stopped_because": "a step broke a threshold",
        },
    }
    (reports / "summary.json").write_text(json.dumps(summary))
    written = charts.draw(reports)
    assert written == [reports / "over-time.png", reports / "knee.png"]
    for path in written:
        width, height = png_size(path)
        assert width > 600
        assert height > 400
    history = charts.read_history(reports / "locust_stats_history.csv")
    assert history["seconds"] == [0, 1, 2]
    assert history["p95"] == [None, 150, 900]

    figure = charts.knee_figure(summary["shape"]["steps"], title="stress", p95_limit=500)
    title = figure.texts[0].get_text()  # the suptitle
    knee = "knee between 50 users (40 rps) and 100 users (85 rps), where p95 900 ms > 500 ms"
    assert knee in title.splitlines(), title
    throughput = figure.axes[0]
    bars = {
        label.get_text(): to_hex(bar.get_facecolor(), keep_alpha=False)
        for label, bar in zip(throughput.get_xticklabels(), throughput.patches, strict=True)
    }
    assert bars == {"50": charts.BLUE.lower(), "100": charts.RED.lower()}


def test_bench_chart_from_a_report(tmp_path: Path) -> None:
    """bench/chart.py draws a bench/results/latest.json-shaped report and names the file."""
    out = tmp_path / "latest.png"
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "chart.py"), str(BENCH_REPORT), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"chart: {out}"
    width, height = png_size(out)
    assert width > 800
    assert height > 300
