"""Every query of the Grafana dashboard, run by a real Prometheus scraping the real service.

Debian's `prometheus` on 127.0.0.1 scrapes one `weather-api serve` process every second (the
stub upstream behind it, failing a fifth of its answers, and a real Redis as the shared cache)
and loads the alert rules file, so that the recording rules the dashboard uses exist. While a
bounded load runs, each panel's PromQL goes through Prometheus's HTTP API with Grafana's
variables filled in as Grafana would: it must parse and return at least one series. Panels fed
by kube-state-metrics (marked so in their description) only have to parse: no cluster here.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import free_port
from tests.processes import weather_api_process
from tests.shared_cache.conftest import RedisServer, running_redis
from weather_api.stub import StubServer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
COMPONENT = REPO / "kustomize" / "components" / "monitoring"
DASHBOARD = COMPONENT / "grafana" / "weather-api.json"
RULES = COMPONENT / "prometheus" / "weather-api.rules.yaml"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
JOB = "weather-api"
RATE_INTERVAL = "30s"
"""What Grafana's $__rate_interval stands for here: many 1 s scrapes, however busy the machine."""
KSM_MARK = "From kube-state-metrics"
CHART_SECONDS = 60
"""With DASHBOARD_CHART=path, how long the load runs before the chart is drawn."""
CITIES = [("london", "gb"), ("paris", "fr"), ("berlin", "de"), ("madrid", "es"), ("rome", "it")]


def _targets(dashboard: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(panel, target) for every query of every panel, rows' own panels included."""
    found = []
    stack = list(dashboard["panels"])
    while stack:
        panel = stack.pop(0)
        stack.extend(panel.get("panels", []))
        found.extend((panel, target) for target in panel.get("targets", []))
    return found


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    """A real Redis for the shared-cache panels."""
    with running_redis() as server:
        yield server


def _start_prometheus(tmp_path: Path, *, scrape_port: int) -> tuple[subprocess.Popen[bytes], str]:
    if not Path(PROMETHEUS).exists():
        pytest.fail("prometheus is missing: `make system-deps` installs Debian's prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{scrape_port}"]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    with (tmp_path / "prometheus.log").open("wb") as log:  # the child keeps its own copy
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture
async def prometheus_for(tmp_path: Path) -> AsyncIterator[Any]:
    """Starts Prometheus scraping a port; stops it after the test."""
    started: list[subprocess.Popen[bytes]] = []

    async def start(scrape_port: int) -> str:
        process, url = _start_prometheus(tmp_path, scrape_port=scrape_port)
        started.append(process)
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if process.poll() is not None:
                    log = (tmp_path / "prometheus.log").read_text(errors="replace")
                    raise AssertionError(f"prometheus exited {process.returncode}:\n{log}")
                try:
                    if (await client.get(f"{url}/-/ready")).status_code == 200:
                        return url
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "prometheus not ready within 60 s"
                await asyncio.sleep(0.1)

    yield start
    for process in started:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - only if it hangs
            process.kill()
            process.wait()


async def _load(url: str, stop: asyncio.Event) -> int:
    """Concurrent requests (the same city at once, so some coalesce) until `stop`; bounded."""
    sent = 0
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        started = time.monotonic()
        while not stop.is_set() and time.monotonic() - started < 120 and sent < 20_000:
            for city, country in CITIES:
                await asyncio.gather(*(client.get(f"/{city}/{country}/") for _ in range(4)))
                sent += 4
            await client.get("/v1/weather", params={"q": ["London,GB", "Paris,FR"]})
            await client.get("/nowhere/zz/")
            await client.get("/healthz")
            sent += 3
            await asyncio.sleep(0.05)
    return sent


def _variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def _fill(expr: str, values: dict[str, str]) -> str:
    """Grafana's variables replaced by what it would send; none may be left over."""
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace(f"${{{name}}}", values[name]).replace(f"${name}", values[name])
    assert "$" not in expr, f"a variable the test does not know is left in: {expr}"
    return expr


async def _query(client: httpx.AsyncClient, url: str, expr: str) -> list[Any]:
    response = await client.get(f"{url}/api/v1/query", params={"query": expr})
    body = response.json()
    assert response.status_code == 200, f"{expr}\n-> {body.get('error')}"
    assert body["status"] == "success", body
    result: list[Any] = body["data"]["result"]
    return result


@pytest.mark.timeout(240)
async def test_every_dashboard_query_returns_data_from_a_real_prometheus(
    tmp_path: Path, stub: StubServer, redis: RedisServer, prometheus_for: Any
) -> None:
    """Each panel's PromQL parses and returns a series from Prometheus scraping the service."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    stub.config.error_rate = 0.2  # failed upstream calls, and stale answers after them
    port = free_port()
    args = ["serve", "--port", str(port), "--provider", "openweathermap"]
    args += ["--upstream-url", stub.url, "--cache-url", redis.url, "--cache-ttl", "1"]
    args += ["--retry-attempts", "1", "--log-level", "warning"]
    env = {"WEATHER_API_OPENWEATHERMAP_API_KEY": "test-key"}
    with weather_api_process(*args, env=env, port=port):
        prometheus = await prometheus_for(port)
        stop = asyncio.Event()
        load = asyncio.create_task(_load(f"http://127.0.0.1:{port}", stop))
        started = time.time()
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                values = await _resolve_variables(client, prometheus, dashboard)
                empty = await _run_panels(client, prometheus, dashboard, values)
                # The same queries over the run, drawn (docs/operations.md shows one such chart).
                chart = Path(os.environ.get("DASHBOARD_CHART") or tmp_path / "dashboard.png")
                if "DASHBOARD_CHART" in os.environ:
                    await asyncio.sleep(max(0.0, started + CHART_SECONDS - time.time()))
                await _chart(client, prometheus, dashboard, values, since=started, path=chart)
        finally:
            stop.set()
            sent = await load
    assert sent > 0
    assert _size(chart) > 10_000, "the chart of the panels is missing or blank"
    assert not empty, "panel queries that returned no series within 90 s:\n" + "\n".join(empty)


async def _resolve_variables(
    client: httpx.AsyncClient, prometheus: str, dashboard: dict[str, Any]
) -> dict[str, str]:
    """Each query variable's `label_values(...)` through the label API, polled until it
    answers (the first scrapes take a second or two); the value Grafana would pick."""
    values = {"__rate_interval": RATE_INTERVAL, "__interval": "1s", "datasource": "prometheus"}
    for name, variable in _variables(dashboard).items():
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", variable["definition"])
        assert match, f"variable {name}: not a label_values() query"
        selector, label = _fill(match.group(1), values), match.group(2)
        deadline = time.monotonic() + 60
        while True:
            response = await client.get(
                f"{prometheus}/api/v1/label/{label}/values", params={"match[]": selector}
            )
            assert response.status_code == 200, response.text
            found: list[str] = response.json()["data"]
            if found:
                break
            assert time.monotonic() < deadline, f"variable {name}: no values for {selector}"
            await asyncio.sleep(0.5)
        if name == "job":
            assert found == [JOB]
        # "All" where the variable offers it, else the first value (Grafana's default).
        values[name] = variable.get("allValue", ".*") if variable.get("includeAll") else found[0]
    return values


async def _run_panels(
    client: httpx.AsyncClient,
    prometheus: str,
    dashboard: dict[str, Any],
    values: dict[str, str],
) -> list[str]:
    """The queries still empty after 90 s (each must parse at once)."""
    pending: dict[str, str] = {}
    targets = _targets(dashboard)
    # Every query in the file is one of these (none hides in a collapsed row).
    assert len(targets) == DASHBOARD.read_text(encoding="utf-8").count('"expr":')
    for panel, target in targets:
        expr = _fill(target["expr"], values)
        result = await _query(client, prometheus, expr)  # a parse error fails here
        exempt = panel.get("description", "").startswith(KSM_MARK) and "weather_api" not in expr
        if not result and not exempt:
            pending[f"{panel['title']} [{target['refId']}]"] = expr
    deadline = time.monotonic() + 90
    while pending and time.monotonic() < deadline:
        await asyncio.sleep(1)
        for key, expr in list(pending.items()):
            if await _query(client, prometheus, expr):
                del pending[key]
    return [f"{key}: {expr}" for key, expr in pending.items()]


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


async def _chart(
    client: httpx.AsyncClient,
    prometheus: str,
    dashboard: dict[str, Any],
    values: dict[str, str],
    *,
    since: float,
    path: Path,
) -> None:
    """Every panel's queries over the run (`query_range`), one small chart per panel, as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [p for p in dashboard["panels"] if p.get("targets")]
    columns = 3
    figure = Figure(figsize=(15, 3.2 * math.ceil(len(panels) / columns)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = list(figure.subplots(math.ceil(len(panels) / columns), columns, squeeze=False).flat)
    end = time.time()
    for axis, panel in zip(axes, panels, strict=False):
        if panel.get("description", "").startswith(KSM_MARK):
            axis.text(0.5, 0.5, "no kube-state-metrics here", ha="center", transform=axis.transAxes)
        for target in panel["targets"]:
            response = await client.get(
                f"{prometheus}/api/v1/query_range",
                params={
                    "query": _fill(target["expr"], values),
                    "start": since,
                    "end": end,
                    "step": 1,
                },
            )
            for series in response.json()["data"]["result"]:
                label = re.sub(
                    r"\{\{\s*(\w+)\s*\}\}",
                    lambda m, s=series: str(s["metric"].get(m[1], "")),
                    target.get("legendFormat", ""),
                )
                seconds = [float(t) - since for t, _ in series["values"]]
                axis.plot(seconds, [float(v) for _, v in series["values"]], label=label[:40])
        axis.set_title(panel["title"], fontsize=9)
        axis.set_xlabel(f"s ({panel['fieldConfig']['defaults'].get('unit', '')})", fontsize=7)
        axis.tick_params(labelsize=7)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=6, loc="upper left")
    for axis in axes[len(panels) :]:
        axis.set_visible(False)
    figure.savefig(path, dpi=72)
