"""Write kustomize/components/monitoring/prometheusrule.yaml from the plain rules file.

The rules live once, in `prometheus/weather-api.rules.yaml` (a Prometheus rules file, which
`promtool` checks and unit-tests); the PrometheusRule for the Prometheus Operator is that file's
text under `spec:`. `python3 tools/monitoring_rules.py` rewrites it; `--check` exits 1 when the
committed one differs (tests/monitoring/test_rules.py runs the same comparison). Standard
library only.
"""

from __future__ import annotations

import sys
from pathlib import Path

COMPONENT = Path(__file__).resolve().parents[1] / "kustomize" / "components" / "monitoring"
RULES = COMPONENT / "prometheus" / "weather-api.rules.yaml"
PROMETHEUS_RULE = COMPONENT / "prometheusrule.yaml"

_HEADER = """\
# GENERATED from prometheus/weather-api.rules.yaml by tools/monitoring_rules.py: edit that file,
# then run `python3 tools/monitoring_rules.py`. The same alert rules, for the Prometheus
# Operator; docs/operations.md, "Alerts", says what each one means.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: weather-api
  labels:
    app.kubernetes.io/name: weather-api
spec:
"""


def render(rules_text: str) -> str:
    """The PrometheusRule: the rules file, less its opening comment, indented under `spec:`."""
    lines = rules_text.splitlines()
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    body = "".join(f"  {line}\n" if line.strip() else "\n" for line in lines)
    return _HEADER + body


def main(argv: list[str]) -> int:
    """Rewrite the PrometheusRule, or with --check say whether it is current."""
    expected = render(RULES.read_text(encoding="utf-8"))
    if "--check" in argv:
        if PROMETHEUS_RULE.read_text(encoding="utf-8") != expected:
            print(
                f"{PROMETHEUS_RULE} differs from {RULES}: run python3 tools/monitoring_rules.py",
                file=sys.stderr,
            )
            return 1
        return 0
    PROMETHEUS_RULE.write_text(expected, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
