"""`make manifests`: render, validate and cross-check every kustomization; fail on any finding."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from manifest_gate import appcheck, invariants, policy, schema, xrefs
from manifest_gate.model import REPO, Finding, Obj, rel
from manifest_gate.render import render

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
    # Run from the repository with relative paths: `.yamllint`'s ignore patterns are relative.
    argv = [yamllint_bin, "--format", "parsable", "--config-file", ".yamllint", *map(rel, paths)]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=REPO)
    findings = []
    for file, row, col, level, message in re.findall(
        r"^(.*?):(\d+):(\d+): \[(\w+)\] (.*)$", result.stdout, re.MULTILINE
    ):
        lines = (REPO / file).read_text(encoding="utf-8").splitlines()
        key = re.match(r"^\s*(?:-\s*)?([^:#\s][^:#]*?):", lines[int(row) - 1] if lines else "")
        where = f"{rel(REPO / file)}:{row}:{col}"
        findings.append(
            Finding("yamllint", where, "", key[1] if key else "", f"{level}: {message}")
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
    dockerfile: Path = args.dockerfile.resolve()
    by_target: dict[str, list[Finding]] = {rel(t): [] for t in [*targets, dockerfile]}
    timings: dict[str, float] = {}

    @contextmanager
    def timing(label: str) -> Iterator[None]:
        start = time.monotonic()
        yield
        timings[label] = timings.get(label, 0.0) + time.monotonic() - start

    def owner(file: str) -> str:
        """The target a file belongs to (the longest one that contains it)."""
        path = file.split(":", 1)[0].split(" (via ", 1)[0]
        inside = [t for t in by_target if path == t or path.startswith(t.rstrip("/") + "/")]
        return max(inside, key=len, default="")

    lint_paths = [*targets, REPO / ".yamllint", *([] if args.targets else [REPO / "kustomize"])]
    with timing("yamllint"):
        for finding in yamllint(lint_paths, yamllint_bin=_tool(args.tools_bin, "yamllint")):
            by_target.setdefault(owner(finding.file), []).append(finding)

    renders: dict[Path, list[Obj]] = {}
    kubectl = _tool(args.tools_bin, "kubectl")
    for target in targets:
        with timing("render"):
            objs, found = render(target, kubectl=kubectl, work=work)
        with timing("schema"):
            found += schema.validate(objs, versions=versions, crd_cache=args.crd_cache)
        by_target[rel(target)] += [*found, *xrefs.check(objs), *invariants.check(objs)]
        renders[target] = objs

    with timing("app"):
        try:  # one run of the app answers for every render
            app_findings, serving = appcheck.check(
                list(renders.values()), python=args.app_python, dockerfile=dockerfile
            )
        except RuntimeError as exc:  # the app itself does not import or build
            by_target.setdefault("", []).append(Finding("app", args.app_python, "", "", str(exc)))
            app_findings, serving = [], [[] for _ in renders]
    for obj, finding in app_findings:
        by_target[rel(obj.target)].append(finding)
    for (target, objs), pods in zip(renders.items(), serving, strict=True):
        by_target[rel(target)].extend(invariants.check_with_app(objs, pods))
    everything = [o for objs in renders.values() for o in objs]
    with timing("checkov"):
        checkov_bin = _tool(args.tools_bin, "checkov")
        for about, finding in policy.checkov(everything, checkov_bin=checkov_bin):
            by_target.setdefault(rel(about.target) if about else "", []).append(finding)
    with timing("hadolint"):
        hadolint_bin = _tool(args.tools_bin, "hadolint")
        by_target[rel(dockerfile)] += policy.hadolint(dockerfile, hadolint_bin=hadolint_bin)

    by_target = {target: list(dict.fromkeys(found)) for target, found in by_target.items()}
    for target, findings in by_target.items():
        for finding in findings:
            print(f"FAIL {target}: {finding}" if target else f"FAIL {finding}")
    if args.report:
        report = {t: [str(f) for f in fs] for t, fs in by_target.items()}
        args.report.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(
        f"manifest gate: {len(everything)} objects from {len(targets)} kustomizations, Kubernetes "
        f"{' and '.join(versions)}; " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()),
        file=sys.stderr,
    )
    total = sum(map(len, by_target.values()))
    print(
        f"manifest gate: FAILED with {total} finding(s)" if total else "manifest gate: OK",
        file=sys.stderr,
    )
    return 1 if total else 0
