"""The monitoring component on a cluster: what `make deploy-loadtest` installs for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_deploy_installs_traefiks_crds_but_not_the_prometheus_operators(tmp_path: Path) -> None:
    """The CRD list deploy-loadtest applies holds Traefik's file only: the Prometheus Operator's
    CRDs are validated against, but a cluster's operator owns them (ours could downgrade it)."""
    result = subprocess.run(
        [sys.executable, "-m", "manifest_gate.crds", str(tmp_path)],
        env={**os.environ, "PYTHONPATH": str(REPO / "tools")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(tmp_path / "traefik-v3.7.9.yml")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["traefik-v3.7.9.yml"]
