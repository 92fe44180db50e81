"""The manifest gate (`make manifests`): the real manifests pass, every negative fixture fails
with a message that names the file, the object and the field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tools" / "manifest_gate" / "fixtures"
GATE_PYTHON = REPO / ".venv-manifests" / "bin" / "python"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expect.yaml").is_file())

# The first test builds .venv-manifests (up to 1200 s on a fresh clone), gate runs take 600.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def _expect(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((FIXTURES / name / "expect.yaml").read_text())
    return data


def _gate(args: list[str], report: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "tools"))
    return subprocess.run(
        [
            str(GATE_PYTHON),
            "-m",
            "manifest_gate",
            "--app-python",
            sys.executable,
            "--report",
            str(report),
            *args,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="session")
def gate_venv() -> Path:
    """The gate's own pinned tools, installed by the Makefile target when missing."""
    subprocess.run(
        ["make", "--no-print-directory", "manifests-venv"], cwd=REPO, check=True, timeout=1200
    )
    return GATE_PYTHON


@pytest.fixture(scope="session")
def fixture_reports(gate_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One gate run over every fixture that needs no extra arguments, plus one per other fixture.

    Batching keeps the suite fast: checkov's start-up dominates a run.
    """
    out = tmp_path_factory.mktemp("gate")
    plain = [n for n in NAMES if "args" not in _expect(n)]
    results: dict[str, Any] = {}
    report = out / "plain.json"
    run = _gate([str(FIXTURES / n) for n in plain], report)
    assert report.is_file(), run.stderr
    findings = json.loads(report.read_text())
    for name in plain:
        results[name] = {
            "findings": findings.get(f"tools/manifest_gate/fixtures/{name}", []),
            "run": run,
        }
    for name in sorted(set(NAMES) - set(plain)):
        report = out / f"{name}.json"
        run = _gate(list(_expect(name)["args"]), report)
        assert report.is_file(), run.stderr
        results[name] = {
            "findings": [f for fs in json.loads(report.read_text()).values() for f in fs],
            "run": run,
        }
    return results


def test_real_manifests_pass(gate_venv: Path, tmp_path: Path) -> None:
    """The base and every overlay pass every check of the gate."""
    run = _gate([], tmp_path / "report.json")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "manifest gate: OK" in run.stderr


def test_every_fixture_documents_its_failure() -> None:
    """Each fixture folder says what the gate must report about it."""
    folders = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
    assert folders == NAMES
    assert len([n for n in NAMES if _expect(n)["fails_with"]]) >= 10


@pytest.mark.parametrize("name", NAMES)
def test_fixture(name: str, fixture_reports: dict[str, Any]) -> None:
    """A negative fixture fails the gate with its documented messages; a positive one passes."""
    expected = _expect(name)["fails_with"]
    result = fixture_reports[name]
    findings = result["findings"]
    output = result["run"].stdout + result["run"].stderr
    if not expected:
        assert findings == [], output
        return
    assert result["run"].returncode == 1, output
    for message in expected:
        assert any(message in finding for finding in findings), (
            f"{name}: no finding contains {message!r}; the gate said:\n" + "\n".join(findings)
        )


def test_schema_files_are_parsed_once(gate_venv: Path) -> None:
    """The gate's cache of kubernetes-validate's schema files (schema.py patches the library's
    internal `utils.schema_contents`) still takes effect with the pinned release."""
    probe = (
        "from manifest_gate import schema\n"
        "import kubernetes_validate.utils as utils\n"
        "schema._keep_schema_files_parsed()\n"
        "pod = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'x'}}\n"
        "for _ in range(3):\n"
        "    utils.validate(pod, '1.35.0', strict=True)\n"
        "print(utils.schema_contents.cache_info().hits)\n"
    )
    run = subprocess.run(
        [str(gate_venv), "-c", probe],
        env=dict(os.environ, PYTHONPATH=str(REPO / "tools")),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, (
        "kubernetes-validate no longer has utils.schema_contents: adapt or drop "
        f"schema._keep_schema_files_parsed\n{run.stderr}"
    )
    assert int(run.stdout) >= 4, "validate() no longer reads schemas through schema_contents"
