"""Monitoring objects against the app: every metric they query is one the service exports.

PrometheusRules (their `expr`s) and Grafana dashboards (ConfigMaps labelled
`grafana_dashboard`: each panel's `expr` and each `label_values()` variable) are parsed with
promql-parser (the Rust `promql-parser` crate's Python binding, so no PromQL grammar of our
own), after Grafana's variables are replaced by placeholder values. Each metric name must be
one that the running app exports (`metric_facts.py`, run with the project's interpreter, reads
the app's own `/metrics`), or one a PrometheusRule of the same render records. Names from
kube-state-metrics (`kube_*`) pass only in a dashboard panel whose description starts with
"From kube-state-metrics": the service cannot vouch for them.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser

from manifest_gate.model import REPO, Finding, Obj, first_line, rel

HERE = Path(__file__).resolve().parent
KSM_MARK = "From kube-state-metrics"
_GRAFANA_INTERVAL = re.compile(r"\$(?:\{__\w+\}|__\w+)")
_GRAFANA_VARIABLE = re.compile(r"\$(?:\{\w+(?::\w+)?\}|\w+)")
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$", re.DOTALL)


@functools.cache
def exported(python: str) -> frozenset[str]:
    """The series names the app exports (raises RuntimeError when the app cannot say)."""
    result = subprocess.run(
        [python, str(HERE / "metric_facts.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    if result.returncode != 0:
        raise RuntimeError(f"metric_facts.py failed: {result.stderr.strip()[-2000:]}")
    return frozenset(json.loads(result.stdout))


def metric_names(expr: str) -> list[str]:
    """Metric names a PromQL expression selects, Grafana's variables filled in first
    (raises ValueError when it does not parse)."""
    text = _GRAFANA_VARIABLE.sub("x", _GRAFANA_INTERVAL.sub("5m", expr))
    found: list[str] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            found.append(str(node.name))
        return True

    promql_parser.walk(promql_parser.parse(text), visit)
    return found


def _dashboard_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(where, expr, kube-state-metrics allowed) for each query of a Grafana dashboard."""
    stack = [(f"panels[{i}]", p) for i, p in enumerate(dashboard.get("panels") or [])]
    while stack:
        where, panel = stack.pop(0)
        stack.extend((f"{where}.panels[{i}]", p) for i, p in enumerate(panel.get("panels") or []))
        ksm = str(panel.get("description", "")).startswith(KSM_MARK)
        for j, target in enumerate(panel.get("targets") or []):
            if target.get("expr"):
                yield f"{where}.targets[{j}].expr ({panel.get('title')})", target["expr"], ksm
    for i, variable in enumerate((dashboard.get("templating") or {}).get("list") or []):
        match = _LABEL_VALUES.match(str(variable.get("definition", "")))
        if variable.get("type") == "query" and match:
            yield f"templating.list[{i}].definition (${variable.get('name')})", match[1], False


def _line(obj: Obj, name: str) -> str:
    """The first file that names the metric, with its line: the target's own (patches win),
    then the origin's folder (a generated dashboard's JSON sits beside its kustomization)."""
    origin = REPO / obj.origin
    candidates = list(obj.target_files())
    candidates += [origin] if origin.is_file() else []
    candidates += sorted(p for p in origin.parent.rglob("*") if p.is_file())
    word = re.compile(rf"(?<![\w:]){re.escape(name)}(?![\w:])")
    for path in candidates:
        if number := first_line(path, word):
            return f"{rel(path)}:{number}"
    return obj.origin


def _queries(obj: Obj) -> Iterator[tuple[str, str, bool]]:
    if obj.kind == "PrometheusRule":
        for g, group in enumerate((obj.data.get("spec") or {}).get("groups") or []):
            for r, rule in enumerate(group.get("rules") or []):
                yield f"spec.groups[{g}].rules[{r}].expr", str(rule.get("expr", "")), False
        return
    for key, text in (obj.data.get("data") or {}).items():
        try:
            dashboard = json.loads(text)
        except json.JSONDecodeError as exc:
            yield f"data[{key}]", f"<not JSON: {exc}>", False
            continue
        for where, expr, ksm in _dashboard_queries(dashboard):
            yield f"data[{key}].{where}", expr, ksm


def _is_dashboard(obj: Obj) -> bool:
    labels = (obj.data.get("metadata") or {}).get("labels") or {}
    return obj.kind == "ConfigMap" and "grafana_dashboard" in labels


def _did_you_mean(name: str, known: frozenset[str] | set[str]) -> str:
    """The exported name this one most likely meant: the same with a suffix Prometheus adds
    (a counter's `_total`, a histogram's `_count`), else the closest spelling."""
    longer = sorted(k for k in known if k.startswith(name + "_"))
    close = longer or difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
    return f" (did you mean {close[0]}?)" if close else ""


def check(objs: list[Obj], *, python: str) -> list[Finding]:
    """Findings for queries that do not parse or name a metric the service does not export."""
    monitored = [o for o in objs if o.kind == "PrometheusRule" or _is_dashboard(o)]
    if not monitored:
        return []
    recorded = {
        str(rule["record"])
        for obj in monitored
        if obj.kind == "PrometheusRule"
        for group in (obj.data.get("spec") or {}).get("groups") or []
        for rule in group.get("rules") or []
        if rule.get("record")
    }
    try:
        known = exported(python) | recorded
    except RuntimeError as exc:  # the app itself does not start
        return [Finding("metrics", rel(HERE / "metric_facts.py"), "", "", str(exc))]
    findings = []
    for obj in monitored:
        for where, expr, ksm in _queries(obj):
            try:
                names = metric_names(expr)
            except ValueError as exc:
                message = f"PromQL does not parse: {exc}"
                findings.append(Finding("metrics", obj.origin, obj.ident, where, message))
                continue
            for name in names:
                if name in known or (ksm and name.startswith("kube_")):
                    continue
                hint = _did_you_mean(name, known)
                findings.append(
                    Finding(
                        "metrics",
                        _line(obj, name),
                        obj.ident,
                        where,
                        f"{name} is not a metric the service exports{hint}",
                    )
                )
    return findings
