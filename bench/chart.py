"""The cases of `make bench` as a chart: requests/s, and CPU per request relative to raw hello.

run.py calls `draw` at the end with the report it wrote to bench/results/latest.json, and the
chart goes next to it as latest.png. Again from a saved report:

    .venv/bin/python bench/chart.py [bench/results/latest.json [out.png]]

Matplotlib (the `bench` extra, not a dependency of the service) draws on its Agg canvas: no
display needed.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

HERE = Path(__file__).resolve().parent
DPI = 110
BASELINE = "hello"
# What each case of run.py is; a case not named here is shown by its key.
LABELS = {
    "hello": "raw ASGI hello",
    "hit": "cache hit",
    "owm_hit": "cache hit, /data/2.5/weather",
    "miss": "cache miss (--cache-ttl 0)",
    "flask": "old Flask app",
    "hit-otel": "cache hit, tracing on (all sampled)",
    "hit-otel-1pct": "cache hit, tracing on (1% sampled)",
    "fastapi": "FastAPI + httpx, no cache",
    "stub": "stub upstream alone",
}
# Okabe and Ito's colours: apart for most colour-blind readers.
COLOURS = {
    "hello": "#7F7F7F",
    "hit": "#009E73",
    "miss": "#0072B2",
    "flask": "#D55E00",
    "fastapi": "#E69F00",
    "stub": "#56B4E9",
}
OTHER = "#CC79A7"


def draw(report: dict[str, Any], path: Path) -> Path:
    """Two panels of horizontal bars, one bar per case: medians of requests/s (with the
    latency bound of a cache miss as a line) and CPU per request as a multiple of raw hello's."""
    cases: dict[str, dict[str, float]] = report["cases"]
    names = list(cases)[::-1]  # barh draws bottom-up: keep run.py's order top-down
    labels = [LABELS.get(name, name) for name in names]
    colours = [COLOURS.get(name, OTHER) for name in names]
    baseline = cases.get(BASELINE, {}).get("cpu_ms_per_request")

    figure = Figure(figsize=(10, 0.55 * len(names) + 2.6), layout="constrained")
    rps_axes, cpu_axes = figure.subplots(1, 2, sharey=True)
    settings, machine = report.get("settings", {}), report.get("machine", {})
    figure.suptitle(
        f"make bench: medians of {_rounds(settings.get('rounds'))} x "
        f"{settings.get('seconds', '?'):g} s per case, "
        f"wrk -c{settings.get('connections', '?')}, stub latency "
        f"{settings.get('stub_latency_ms', '?'):g} ms\n"
        f"{machine.get('cpus', '?')} CPUs, Python {machine.get('python', '?')}; "
        f"{_targets_line(report.get('targets', {}))}",
        fontsize=10,
    )

    rps = [cases[name]["rps"] for name in names]
    bars = rps_axes.barh(labels, rps, color=colours)
    rps_axes.bar_label(bars, labels=[f"{v:,.0f}" for v in rps], fontsize=8, padding=3)
    bound = report.get("latency_bound_rps")
    if bound:
        rps_axes.axvline(
            bound,
            color="#0072B2",
            linestyle="--",
            linewidth=1,
            label=f"latency bound of a miss: {bound:,.0f} rps",
        )
        rps_axes.legend(loc="lower right", fontsize=8, framealpha=0.9)
    rps_axes.xaxis.set_major_locator(MaxNLocator(6))
    rps_axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    rps_axes.set_xlabel("requests/s (more is better)")
    rps_axes.set_xlim(0, max(rps) * 1.18)

    if baseline:
        relative = [cases[name]["cpu_ms_per_request"] / baseline for name in names]
        bars = cpu_axes.barh(labels, relative, color=colours)
        cpu_axes.bar_label(
            bars,
            labels=[
                f"{r:.1f}x ({cases[name]['cpu_ms_per_request']:.3f} ms)"
                for r, name in zip(relative, names, strict=True)
            ],
            fontsize=8,
            padding=3,
        )
        cpu_axes.axvline(1, color="#7F7F7F", linewidth=1)
        cpu_axes.set_xlim(0, max(relative) * 1.35)
        cpu_axes.set_xlabel(f"CPU per request, x {LABELS[BASELINE]}'s (less is better)")
    else:
        cpu_axes.text(0.5, 0.5, "no raw hello case to compare with", ha="center")
    for axes in (rps_axes, cpu_axes):
        axes.grid(alpha=0.3, axis="x")
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=DPI)
    return path


def _rounds(count: int | None) -> str:
    return "? rounds" if count is None else f"{count} round{'s' if count != 1 else ''}"


def _targets_line(targets: dict[str, bool]) -> str:
    missed = [label for label, ok in targets.items() if not ok]
    if not targets:
        return "no targets in the report"
    if not missed:
        return f"all {len(targets)} targets met"
    line = f"MISSED {len(missed)} of {len(targets)} targets: " + "; ".join(missed)
    return textwrap.fill(line, 110)


def main(argv: list[str]) -> int:
    source = Path(argv[0]) if argv else HERE / "results" / "latest.json"
    target = Path(argv[1]) if len(argv) > 1 else source.with_suffix(".png")
    print(f"chart: {draw(json.loads(source.read_text()), target)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
