"""`make sbom` (scripts/sbom): the SBOM must list every installed runtime package at the version
requirements/constraints.txt pins. cyclonedx-py is stood in for by a script that describes an
environment as the real one does (name and version per installed distribution), with one
package dropped or changed on demand; the environment is this test run's own (no index)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

FAKE_CYCLONEDX = """\
    #!{python}
    # A stand-in cyclonedx-py: `environment ... -o OUT PYTHON` lists PYTHON's distributions.
    import json, os, subprocess, sys
    args = sys.argv[1:]
    out, python = args[args.index("-o") + 1], args[-1]
    listed = subprocess.run([python, "-m", "pip", "list", "--format=json"],
                            capture_output=True, text=True, check=True).stdout
    components = [{{"type": "library", "name": p["name"], "version": p["version"]}}
                  for p in json.loads(listed)
                  if p["name"].lower() != os.environ.get("FAKE_DROP", "").lower()]
    for c in components:
        if c["name"].lower() == os.environ.get("FAKE_BUMP", "").lower():
            c["version"] += ".post9"
    json.dump({{"bomFormat": "CycloneDX", "specVersion": "1.6",
               "metadata": {{"component": {{"name": "weather-api"}}}},
               "components": components}}, open(out, "w"))
"""


def _sbom(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    fake = tmp_path / "cyclonedx-py"
    fake.write_text(textwrap.dedent(FAKE_CYCLONEDX.format(python=sys.executable)))
    fake.chmod(0o755)
    return subprocess.run(
        [str(REPO / "scripts" / "sbom")],
        cwd=REPO,
        env={
            **os.environ,
            "CYCLONEDX": str(fake),
            "SBOM_PYTHON": sys.executable,
            "SBOM_OUT": str(tmp_path / "bom.json"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sbom_lists_every_pin(tmp_path: Path) -> None:
    """An SBOM with every installed package at its pinned version passes, naming them."""
    run = _sbom(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "fastapi==" in run.stdout
    bom = json.loads((tmp_path / "bom.json").read_text())
    assert bom["bomFormat"] == "CycloneDX"


def test_sbom_missing_a_dependency_fails(tmp_path: Path) -> None:
    """A runtime dependency absent from the SBOM fails `make sbom`, naming it."""
    run = _sbom(tmp_path, FAKE_DROP="pydantic")
    assert run.returncode == 1
    assert "FAIL: pydantic " in run.stdout
    assert "is not in the SBOM at that version (absent)" in run.stdout


def test_sbom_at_another_version_fails(tmp_path: Path) -> None:
    """A dependency listed at a version other than the pinned one fails too."""
    run = _sbom(tmp_path, FAKE_BUMP="httpx")
    assert run.returncode == 1
    assert "FAIL: httpx 0.28.1 is not in the SBOM at that version (0.28.1.post9)" in run.stdout
