"""checkov's Kubernetes checks and hadolint, run offline; their findings in the gate's shape.

The restricted Pod Security Standard is not restated here: the namespaces enforce it at
admission (`pod-security.kubernetes.io/enforce: restricted`), and checkov checks most of its
fields before that (README.md says which tool covers which rule).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import yaml

from manifest_gate.model import Finding, Obj, rel

HERE = Path(__file__).resolve().parent


def checkov(objs: list[Obj], *, checkov_bin: str) -> list[tuple[Obj | None, Finding]]:
    """checkov's Kubernetes checks, offline, one file per object so that results map back."""
    config = yaml.safe_load((HERE / "checkov.yaml").read_text(encoding="utf-8"))
    skip_in: dict[str, dict[str, str]] = config.get("skip_in") or {}
    # checkov silently skips any path with a dot-folder in it (.cache/...).
    with tempfile.TemporaryDirectory(prefix="manifest-gate-checkov-") as tmp:
        by_file: dict[str, Obj] = {}
        for n, obj in enumerate(objs):
            group = obj.api_version.split("/")[0]
            if not obj.api_version or ("." in group and "k8s.io" not in group):
                continue  # custom resources: checkov has no checks for them
            name = re.sub(r"[^\w.-]", "_", f"{n:03d}-{obj.kind}-{obj.namespace}-{obj.name}")
            (Path(tmp) / f"{name}.yaml").write_text(yaml.safe_dump(obj.data), encoding="utf-8")
            by_file[f"{name}.yaml"] = obj
        env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false")
        env.pop("BC_API_KEY", None)
        command = [checkov_bin, "--directory", tmp, "--framework", "kubernetes", "--skip-download"]
        command += ["--skip-check", ",".join(config["skip"])]
        command += ["--compact", "--quiet", "--output", "json"]
        result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    try:
        reports = json.loads(result.stdout) if result.stdout.strip() else []
    except json.JSONDecodeError:
        message = f"checkov failed: {result.stderr.strip()[-500:]}"
        return [(None, Finding("checkov", "checkov", "", "", message))]
    reports = [reports] if isinstance(reports, dict) else reports
    findings: list[tuple[Obj | None, Finding]] = []
    if by_file and not sum(r.get("summary", {}).get("resource_count", 0) for r in reports):
        # A checkov that read nothing passes everything: a failure, not a silent OK.
        findings.append((None, Finding("checkov", "checkov", "", "", "checkov scanned nothing")))
    for report in reports:
        for failed in (report.get("results") or {}).get("failed_checks", []):
            scanned = by_file.get(Path(failed.get("file_path", "")).name)
            check_id = failed["check_id"]
            if scanned is None or check_id in skip_in.get(rel(scanned.target), {}):
                continue
            # The field checkov read (`spec/template/spec/containers/[0]/...`), when only one.
            keys = (failed.get("check_result") or {}).get("evaluated_keys") or []
            field = re.sub(r"/\[", "[", keys[0]).replace("/", ".") if len(keys) == 1 else ""
            message = f"{check_id} {failed.get('check_name', '')}"
            findings.append((scanned, scanned.finding("checkov", field, message)))
    if result.returncode not in (0, 1):
        message = f"checkov exited {result.returncode}"
        findings.append((None, Finding("checkov", "checkov", "", "", message)))
    return findings


def hadolint(dockerfile: Path, *, hadolint_bin: str) -> list[Finding]:
    """hadolint's findings (any level fails: the Dockerfile is kept clean)."""
    config = str(HERE / "hadolint.yaml")
    command = [hadolint_bin, "--no-color", "--format", "json", "--config", config, str(dockerfile)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        items = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        message = result.stderr.strip() or result.stdout
        return [Finding("hadolint", rel(dockerfile), "", "", message)]
    lines = dockerfile.read_text(encoding="utf-8").splitlines()
    findings = []
    for item in items:
        line = int(item.get("line", 0))
        words = lines[line - 1].split() if 0 < line <= len(lines) else []
        instruction = f"{words[0]} instruction" if words else ""
        message = f"{item.get('code')} {item.get('message')}"
        findings.append(Finding("hadolint", f"{rel(dockerfile)}:{line}", instruction, "", message))
    return findings
