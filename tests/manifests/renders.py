"""The overlays as the pinned kustomize renders them, for tests that assert over a real render."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
KUBECTL = REPO / ".venv-manifests" / "bin" / "kubectl"


def render(overlay: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize overlay` with the gate's pinned kubectl (installed when missing)."""
    subprocess.run(
        ["make", "--no-print-directory", "manifests-venv"], cwd=REPO, check=True, timeout=1200
    )
    out = subprocess.run(
        [str(KUBECTL), "kustomize", str(overlay)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if isinstance(d, dict)]
