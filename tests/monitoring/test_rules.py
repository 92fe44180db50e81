"""The alert rules: promtool accepts them, their unit tests pass and can fail, one source."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPONENT = REPO / "kustomize" / "components" / "monitoring"
RULES = COMPONENT / "prometheus" / "weather-api.rules.yaml"
RULE_TESTS = COMPONENT / "prometheus" / "weather-api.rules.test.yaml"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def _alerts() -> list[str]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if not Path(PROMTOOL).exists():
        pytest.fail("promtool is missing: `make system-deps` installs Debian's prometheus")
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_checks_the_rules() -> None:
    """`promtool check rules` accepts the rules file, alerts and recording rules alike."""
    result = _promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alerts()) + 5} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    """Every promtool unit test of the rules passes."""
    result = _promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _mutated(
    tmp_path: Path, alert: str, *, expr: str, firing_cases: bool
) -> subprocess.CompletedProcess[str]:
    """promtool test rules with `alert`'s expression replaced, on only its firing (or only its
    not-firing) cases."""
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                rule["expr"] = expr
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    kept: list[dict[str, Any]] = []
    for case in tests["tests"]:
        checks = [
            check
            for check in case.get("alert_rule_test", [])
            if check["alertname"] == alert and bool(check.get("exp_alerts")) == firing_cases
        ]
        if checks:
            kept.append({**case, "alert_rule_test": checks})
    assert kept, f"{alert} has no {'firing' if firing_cases else 'not-firing'} test case"
    (tmp_path / RULES.name).write_text(yaml.safe_dump(rules), encoding="utf-8")
    tests["tests"] = kept
    tests_file = tmp_path / RULE_TESTS.name
    tests_file.write_text(yaml.safe_dump(tests), encoding="utf-8")
    return _promtool("test", "rules", str(tests_file))


@pytest.mark.parametrize("alert", _alerts())
def test_each_alert_is_tested_firing(tmp_path: Path, alert: str) -> None:
    """An alert that could never fire fails its firing test cases."""
    result = _mutated(tmp_path, alert, expr="vector(1) > 2", firing_cases=True)
    assert result.returncode != 0, result.stdout
    assert f"alertname: {alert}" in result.stderr


@pytest.mark.parametrize("alert", _alerts())
def test_each_alert_is_tested_not_firing(tmp_path: Path, alert: str) -> None:
    """An alert that always fired fails its not-firing test cases."""
    result = _mutated(tmp_path, alert, expr="vector(1)", firing_cases=False)
    assert result.returncode != 0, result.stdout
    assert f"alertname: {alert}" in result.stderr


def test_prometheus_rule_is_generated_from_the_rules_file() -> None:
    """The PrometheusRule carries exactly the plain rules file's groups (no drift)."""
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "monitoring_rules.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    resource = yaml.safe_load((COMPONENT / "prometheusrule.yaml").read_text(encoding="utf-8"))
    assert resource["spec"] == yaml.safe_load(RULES.read_text(encoding="utf-8"))


def test_the_operations_doc_explains_every_alert() -> None:
    """docs/operations.md's "Alerts" table has one row per alert of the rules file, in its
    order and with its severity, no more."""
    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text.split("\n## Alerts\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \((\w+)\) \|", section, flags=re.MULTILINE)
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    alerts = [
        (r["alert"], r["labels"]["severity"]) for g in groups for r in g["rules"] if "alert" in r
    ]
    assert rows == alerts
