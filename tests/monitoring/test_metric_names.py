"""Every metric the alert rules and the Grafana dashboard name is one the service exports.

test_dashboard.py runs the dashboard's queries on a real Prometheus scraping the service. This
file needs no Prometheus and adds the rules: an alert on a misspelt metric is valid PromQL,
passes promtool (its unit tests feed the very series the rule names) and never fires. Each
query of the rules file (the PrometheusRule is generated from it, test_rules.py) and of the
dashboard (panels, rows' panels, `label_values()` variables) is parsed with promql-parser, and
each metric it selects must be a series of the app's own /metrics (both cache tiers on) or a
rule's `record`. `kube_*` names pass only in panels marked as fed by kube-state-metrics.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port, make_settings, running_app, scrape

REPO = Path(__file__).resolve().parents[2]
COMPONENT = REPO / "kustomize" / "components" / "monitoring"
RULES = COMPONENT / "prometheus" / "weather-api.rules.yaml"
DASHBOARD = COMPONENT / "grafana" / "weather-api.json"
KSM_MARK = "From kube-state-metrics"
# What Grafana would put in: an interval where PromQL wants a duration, a word elsewhere.
_GRAFANA_INTERVAL = re.compile(r"\$(?:\{__\w+\}|__\w+)")
_GRAFANA_VARIABLE = re.compile(r"\$(?:\{\w+(?::\w+)?\}|\w+)")
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$", re.DOTALL)
# The series Prometheus stores for a family of each type, beyond the samples it already has.
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum"),
}

Query = tuple[str, str, bool]
"""(where, PromQL, kube-state-metrics names allowed)"""


def series_names(exposition: str) -> set[str]:
    """The series names of a text exposition, also of labelled families with no sample yet."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


async def _exposition() -> str:
    # The Redis port is closed: the start-up ping fails fast and the tier's metrics still exist.
    url = f"redis://127.0.0.1:{free_port()}/0"
    settings = make_settings(provider="sample", cache_url=url, cache_redis_timeout=0.2)
    async with running_app(settings) as client:
        return (await scrape(client)).text


@pytest.fixture(scope="module")
def exported() -> frozenset[str]:
    """The series names the app's own /metrics exports, both cache tiers on."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("WEATHER_API_")]:
            patch.delenv(name)
        return frozenset(series_names(asyncio.run(_exposition())))


def metric_names(expr: str) -> list[str]:
    """The metric names a query selects, Grafana's variables filled in (ValueError: no parse)."""
    text = _GRAFANA_VARIABLE.sub("x", _GRAFANA_INTERVAL.sub("5m", expr))
    found: list[str] = []

    def visit(node: promql_parser.Expr) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            found.append(str(node.name))
        return True

    promql_parser.walk(promql_parser.parse(text), visit)
    return found


def _panels(dashboard: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    stack = [(f"panels[{i}]", p) for i, p in enumerate(dashboard.get("panels") or [])]
    while stack:
        where, panel = stack.pop(0)
        stack.extend((f"{where}.panels[{i}]", p) for i, p in enumerate(panel.get("panels") or []))
        yield where, panel


def queries(rules: dict[str, Any], dashboard: dict[str, Any]) -> Iterator[Query]:
    """Every query of the rules file and of the dashboard."""
    for g, group in enumerate(rules["groups"]):
        for r, rule in enumerate(group["rules"]):
            name = rule.get("alert") or rule.get("record")
            yield f"{RULES.name} groups[{g}].rules[{r}] ({name})", str(rule["expr"]), False
    for where, panel in _panels(dashboard):
        ksm = str(panel.get("description", "")).startswith(KSM_MARK)
        for t, target in enumerate(panel.get("targets") or []):
            if target.get("expr"):
                yield (
                    f"{DASHBOARD.name} {where}.targets[{t}] ({panel.get('title')})",
                    target["expr"],
                    ksm,
                )
    for v, variable in enumerate((dashboard.get("templating") or {}).get("list") or []):
        match = _LABEL_VALUES.match(str(variable.get("definition", "")))
        if variable.get("type") == "query" and match:
            yield f"{DASHBOARD.name} templating.list[{v}] (${variable['name']})", match[1], False


def problems(
    rules: dict[str, Any], dashboard: dict[str, Any], *, exported: frozenset[str]
) -> list[str]:
    """Queries that do not parse, and names neither the app exports nor a rule records."""
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    known = exported | recorded
    found = []
    for where, expr, ksm in queries(rules, dashboard):
        try:
            names = metric_names(expr)
        except ValueError as exc:
            found.append(f"{where}: does not parse: {exc}")
            continue
        for name in dict.fromkeys(names):  # a name used twice is one problem
            if name in known or (ksm and name.startswith("kube_")):
                continue
            # A counter's `_total` or a histogram's `_count` left off (before the `_created`
            # series a counter with samples also has), else a typo.
            longer = sorted(
                (k for k in known if k.startswith(name + "_")),
                key=lambda k: (not k.endswith(("_total", "_bucket", "_count", "_sum")), k),
            )
            close = longer or difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]}?)" if close else ""
            found.append(f"{where}: {name} is not a metric the service exports{hint}")
    return found


def _load() -> tuple[dict[str, Any], dict[str, Any]]:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return rules, json.loads(DASHBOARD.read_text(encoding="utf-8"))


def test_every_name_in_the_rules_and_the_dashboard_is_exported(exported: frozenset[str]) -> None:
    """No alert, recording rule, panel or variable queries a metric the service lacks."""
    rules, dashboard = _load()
    assert problems(rules, dashboard, exported=exported) == []


Mutation = Callable[[dict[str, Any], dict[str, Any]], None]


def _rule(rules: dict[str, Any], alert: str) -> dict[str, Any]:
    return next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == alert)


def _panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    return next(p for _, p in _panels(dashboard) if p.get("title") == title)


def _misspell_rule(rules: dict[str, Any], _: dict[str, Any]) -> None:
    rule = _rule(rules, "WeatherApiServingStale")
    rule["expr"] = rule["expr"].replace(
        "weather_api_cache_events_total", "weather_api_cache_events"
    )


def _misspell_panel(_: dict[str, Any], dashboard: dict[str, Any]) -> None:
    target = _panel(dashboard, "Requests in flight")["targets"][0]
    target["expr"] = target["expr"].replace("_http_requests_in_flight", "_requests_in_flight")


def _misspell_in_a_collapsed_row(_: dict[str, Any], dashboard: dict[str, Any]) -> None:
    """Grafana keeps a collapsed row's panels inside the row."""
    row = _panel(dashboard, "Upstream")
    row["collapsed"] = True
    row["panels"] = [
        {"title": "Mismatches", "targets": [{"expr": "weather_api_upstream_mismatches"}]}
    ]


def _misspell_variable(_: dict[str, Any], dashboard: dict[str, Any]) -> None:
    job = dashboard["templating"]["list"][1]
    job["definition"] = "label_values(weather_api_requests_in_flight, job)"


def _unclose(_: dict[str, Any], dashboard: dict[str, Any]) -> None:
    target = _panel(dashboard, "Coalesced requests per second")["targets"][0]
    target["expr"] = target["expr"].removesuffix(")")


def _unmark(_: dict[str, Any], dashboard: dict[str, Any]) -> None:
    _panel(dashboard, "HPA replicas (kube-state-metrics)")["description"] = "Replicas."


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        pytest.param(
            _misspell_rule,
            "(WeatherApiServingStale): weather_api_cache_events is not a metric the service "
            "exports (did you mean weather_api_cache_events_total?)",
            id="rule-misspelt",
        ),
        pytest.param(
            _misspell_panel,
            "(Requests in flight): weather_api_requests_in_flight is not a metric",
            id="panel-misspelt",
        ),
        pytest.param(
            _misspell_in_a_collapsed_row,
            ".panels[0].targets[0] (Mismatches): weather_api_upstream_mismatches is not a "
            "metric the service exports (did you mean weather_api_upstream_mismatches_total?)",
            id="row-panel-misspelt",
        ),
        pytest.param(
            _misspell_variable,
            "templating.list[1] ($job): weather_api_requests_in_flight is not a metric",
            id="variable-misspelt",
        ),
        pytest.param(
            _unclose,
            "(Coalesced requests per second): does not parse: unclosed left parenthesis",
            id="unparsable",
        ),
        pytest.param(
            _unmark,
            "(HPA replicas (kube-state-metrics)): kube_horizontalpodautoscaler_status_current_"
            "replicas is not a metric",
            id="kube-state-metrics-unmarked",
        ),
    ],
)
def test_a_broken_query_is_reported(
    exported: frozenset[str], mutate: Mutation, problem: str
) -> None:
    """A misspelt metric in a rule, panel, row or variable, a query that does not parse, or a
    kube-state-metrics name in an unmarked panel is reported, naming where."""
    rules, dashboard = _load()
    mutate(rules, dashboard)
    found = problems(rules, dashboard, exported=exported)
    assert any(problem in p for p in found), found
