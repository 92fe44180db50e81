"""`make manifests`: render, validate and cross-check every kustomization; fail on any finding."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from manifest_gate import (
    appcheck,
    invariants,
    policy,
    schema,
    xrefs,
)
from manifest_gate.model import REPO, Finding, Obj, rel
from manifest_gate.render import render

T = TypeVar("T")
DEFAULT_VERSIONS = "1.30.0,1.35.0"
"""Oldest and newest Kubernetes minor the manifests support (kubernetes-validate ships both)."""


def default_targets() -> list[Path]:
    """The base and every overlay (each folder with a kustomization.yaml)."""
    root = REPO / "kustomize"
    found = [root / "base", *sorted(p.parent for p in root.glob("overlays/*/kustomization.yaml"))]
    return [p for p in found if (p / "kustomization.yaml").is_file()]


def _tool(bin_dir: Path, name: str) -> str:
    found = str(bin_dir / name) if (bin_dir / name).exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"manifest gate: {name} not in {bin_dir} or on PATH (make manifests-venv)")
    return found


def yamllint(paths: list[Path], *, yamllint_bin: str) -> list[Finding]:
    """yamllint's findings, each naming file:line:column and the key on that line."""
    config = str(REPO / ".yamllint")
    result = subprocess.run(
        [yamllint_bin, "--format", "parsable", "--config-file", config, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = []
    for file, row, col, level, message in re.findall(
        r"^(.*?):(\d+):(\d+): \[(\w+)\] (.*)$", result.stdout, re.MULTILINE
    ):
        lines = Path(file).read_text(encoding="utf-8").splitlines()
        text = lines[int(row) - 1] if int(row) <= len(lines) else ""
        key = re.match(r"^\s*(?:-\s*)?([^:#\s][^:#]*?):", text)
        where = f"{rel(file)}:{row}:{col}"
        findings.append(
            Finding("yamllint", where, "", key.group(1) if key else "", f"{level}: {message}")
        )
    if result.returncode not in (0, 1) and not findings:
        findings.append(Finding("yamllint", "", "", "", result.stderr.strip()))
    return findings


def main(argv: list[str] | None = None) -> int:
    """Run every check; print the findings; exit 1 when there is any."""
    parser = argparse.ArgumentParser(prog="manifest-gate", description=__doc__)
    parser.add_argument(
        "targets", nargs="*", type=Path, help="kustomization folders (default: base + overlays)"
    )
    parser.add_argument("--dockerfile", type=Path, default=REPO / "Dockerfile")
    parser.add_argument("--kubernetes-versions", default=DEFAULT_VERSIONS)
    parser.add_argument("--app-python", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--tools-bin", type=Path, default=Path(sys.executable).parent)
    parser.add_argument("--work", type=Path, default=REPO / ".cache" / "manifest-gate")
    parser.add_argument("--crd-cache", type=Path, default=REPO / ".cache" / "crds")
    parser.add_argument("--report", type=Path, help="also write the findings per target as JSON")
    args = parser.parse_args(argv)

    targets = [t.resolve() for t in args.targets] or default_targets()
    versions = [v.strip() for v in args.kubernetes_versions.split(",") if v.strip()]
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    kubectl = _tool(args.tools_bin, "kubectl")
    dockerfile: Path = args.dockerfile.resolve()

    by_target: dict[str, list[Finding]] = {rel(t): [] for t in targets}
    by_target[rel(dockerfile)] = []
    timings: dict[str, float] = {}

    def timed(label: str, fn: Callable[[], T]) -> T:
        start = time.monotonic()
        value = fn()
        timings[label] = timings.get(label, 0.0) + time.monotonic() - start
        return value

    def owner(file: str) -> str:
        path = file.split(":", 1)[0].split(" (via ", 1)[0]
        for target in sorted(by_target, key=len, reverse=True):
            if path == target or path.startswith(target.rstrip("/") + "/"):
                return target
        return ""

    lint_paths = [*targets, REPO / ".yamllint"]
    if not args.targets:
        lint_paths.append(REPO / "kustomize")
    for finding in timed(
        "yamllint", lambda: yamllint(lint_paths, yamllint_bin=_tool(args.tools_bin, "yamllint"))
    ):
        by_target.setdefault(owner(finding.file), []).append(finding)

    renders: dict[Path, list[Obj]] = {}
    count = 0
    for target in targets:
        objs, problems = timed("render", lambda t=target: render(t, kubectl=kubectl, work=work))
        renders[target] = objs
        count += len(objs)
        found = list(problems)
        found += timed(
            "schema", lambda o=objs: schema.validate(o, versions=versions, crd_cache=args.crd_cache)
        )[0]
        found += xrefs.check(objs)
        found += invariants.check(objs)
        by_target[rel(target)].extend(found)

    everything = [o for objs in renders.values() for o in objs]
    try:
        app_findings, serving = timed(
            "app",
            lambda: appcheck.check(
                list(renders.values()), python=args.app_python, dockerfile=dockerfile
            ),
        )
    except RuntimeError as exc:  # the app itself does not import or build
        by_target.setdefault("", []).append(Finding("app", args.app_python, "", "", str(exc)))
        app_findings, serving = [], [[] for _ in renders]
    for obj, finding in app_findings:
        by_target[rel(obj.target)].append(finding)
    for (target, objs), pods in zip(renders.items(), serving, strict=True):
        by_target[rel(target)].extend(invariants.check_with_app(objs, pods))
    checkov_bin = _tool(args.tools_bin, "checkov")
    for obj, finding in timed(
        "checkov", lambda: policy.checkov(everything, checkov_bin=checkov_bin)
    ):
        by_target.setdefault(rel(obj.target) if obj else "", []).append(finding)
    for finding in timed(
        "hadolint",
        lambda: policy.hadolint(dockerfile, hadolint_bin=_tool(args.tools_bin, "hadolint")),
    ):
        by_target[rel(dockerfile)].append(finding)

    total = 0
    for target, findings in by_target.items():
        unique = list(dict.fromkeys(findings))
        by_target[target] = unique
        total += len(unique)
        for finding in unique:
            print(f"FAIL {target}: {finding}" if target else f"FAIL {finding}")
    if args.report:
        args.report.write_text(
            json.dumps({t: [str(f) for f in fs] for t, fs in by_target.items()}, indent=2),
            encoding="utf-8",
        )
    summary = (
        f"manifest gate: {count} objects from {len(targets)} kustomizations, Kubernetes "
        f"{' and '.join(versions)}; " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
    )
    print(summary, file=sys.stderr)
    if total:
        print(f"manifest gate: FAILED with {total} finding(s)", file=sys.stderr)
        return 1
    print("manifest gate: OK", file=sys.stderr)
    return 0
