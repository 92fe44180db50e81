"""Policy: the restricted Pod Security Standard, checkov's Kubernetes checks, hadolint.

The PSS rules are written out here because they are short, fixed by the Kubernetes docs
("Pod Security Standards", restricted profile) and have to name the exact field; checkov adds
the broader hygiene checks (resources, probes, tokens, images, network policy) that would be
a lot of code to maintain by hand; hadolint parses Dockerfiles properly, which a regex cannot.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from manifest_gate.model import Finding, Obj, containers, pod_spec, rel

HERE = Path(__file__).resolve().parent
ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def pss_restricted(objs: list[Obj]) -> list[Finding]:
    """Every violation of the restricted profile (which includes the baseline one)."""
    findings: list[Finding] = []
    for obj in objs:
        located = pod_spec(obj)
        if located is not None:
            findings.extend(_pss_pod(obj, *located))
    return findings


def _pss_pod(obj: Obj, path: str, spec: dict[str, Any]) -> Iterator[Finding]:
    def bad(field: str, message: str) -> Finding:
        return obj.finding("pss", field, f"{message} (restricted Pod Security Standard)")

    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            yield bad(f"{path}.{key}", "must be unset or false")
    for i, volume in enumerate(spec.get("volumes") or []):
        kinds = set(volume) - {"name"}
        for kind in sorted(kinds - ALLOWED_VOLUMES):
            yield bad(f"{path}.volumes[{i}].{kind}", f"volume type {kind} is not allowed")
    pod_sc = spec.get("securityContext") or {}
    if pod_sc.get("runAsUser") == 0:
        yield bad(f"{path}.securityContext.runAsUser", "must not be 0")
    for j, sysctl in enumerate(pod_sc.get("sysctls") or []):
        yield bad(
            f"{path}.securityContext.sysctls[{j}]", f"sysctl {sysctl.get('name')} is not allowed"
        )
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        yield bad(f"{path}.securityContext.seccompProfile.type", f"{pod_seccomp!r} is not allowed")
    for cpath, container in containers(path, spec):
        sc = container.get("securityContext") or {}
        if sc.get("privileged"):
            yield bad(f"{cpath}.securityContext.privileged", "must be false")
        if sc.get("allowPrivilegeEscalation") is not False:
            yield bad(f"{cpath}.securityContext.allowPrivilegeEscalation", "must be false")
        if not (
            sc.get("runAsNonRoot")
            or (pod_sc.get("runAsNonRoot") and sc.get("runAsNonRoot") is not False)
        ):
            yield bad(f"{cpath}.securityContext.runAsNonRoot", "must be true (here or in the pod)")
        if sc.get("runAsUser") == 0:
            yield bad(f"{cpath}.securityContext.runAsUser", "must not be 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            yield bad(
                f"{cpath}.securityContext.seccompProfile.type",
                "must be RuntimeDefault or Localhost (here or in the pod)",
            )
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            yield bad(f"{cpath}.securityContext.capabilities.drop", "must contain ALL")
        for k, cap in enumerate(caps.get("add") or []):
            if cap != "NET_BIND_SERVICE":
                yield bad(f"{cpath}.securityContext.capabilities.add[{k}]", f"{cap} is not allowed")
        if sc.get("procMount") not in (None, "Default"):
            yield bad(f"{cpath}.securityContext.procMount", "must be Default")
        for k, port in enumerate(container.get("ports") or []):
            if port.get("hostPort"):
                yield bad(f"{cpath}.ports[{k}].hostPort", "must be unset or 0")


CHECKOV_FIELDS = {
    "CKV_K8S_8": "livenessProbe",
    "CKV_K8S_9": "readinessProbe",
    "CKV_K8S_10": "resources.requests.cpu",
    "CKV_K8S_11": "resources.limits.cpu",
    "CKV_K8S_12": "resources.requests.memory",
    "CKV_K8S_13": "resources.limits.memory",
    "CKV_K8S_14": "image",
    "CKV_K8S_15": "imagePullPolicy",
    "CKV_K8S_16": "securityContext.privileged",
    "CKV_K8S_17": "hostPID",
    "CKV_K8S_18": "hostIPC",
    "CKV_K8S_19": "hostNetwork",
    "CKV_K8S_20": "securityContext.allowPrivilegeEscalation",
    "CKV_K8S_21": "metadata.namespace",
    "CKV_K8S_22": "securityContext.readOnlyRootFilesystem",
    "CKV_K8S_23": "securityContext.runAsNonRoot",
    "CKV_K8S_25": "securityContext.capabilities.add",
    "CKV_K8S_28": "securityContext.capabilities.drop",
    "CKV_K8S_29": "securityContext",
    "CKV_K8S_30": "securityContext",
    "CKV_K8S_31": "securityContext.seccompProfile",
    "CKV_K8S_37": "securityContext.capabilities.drop",
    "CKV_K8S_38": "automountServiceAccountToken",
    "CKV_K8S_40": "securityContext.runAsUser",
    "CKV_K8S_43": "image",
}


def checkov(objs: list[Obj], *, checkov_bin: str) -> list[tuple[Obj | None, Finding]]:
    """checkov's Kubernetes checks, offline, one file per object so results map back."""
    config = yaml.safe_load((HERE / "checkov.yaml").read_text(encoding="utf-8"))
    skips: dict[str, str] = config["skip"]
    skip_in: dict[str, dict[str, str]] = config.get("skip_in") or {}
    # checkov silently skips any path with a dot-folder in it (.cache/...), so its input
    # lives in a plain temporary folder.
    with tempfile.TemporaryDirectory(prefix="manifest-gate-checkov-") as tmp:
        return _checkov(objs, out=Path(tmp), skips=skips, skip_in=skip_in, checkov_bin=checkov_bin)


def _checkov(
    objs: list[Obj],
    *,
    out: Path,
    skips: dict[str, str],
    skip_in: dict[str, dict[str, str]],
    checkov_bin: str,
) -> list[tuple[Obj | None, Finding]]:
    by_file: dict[str, Obj] = {}
    for n, obj in enumerate(objs):
        if not obj.api_version or (
            "." in obj.api_version.split("/")[0] and "k8s.io" not in obj.api_version
        ):
            continue  # custom resources: checkov has no checks for them
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{n:03d}-{obj.kind}-{obj.namespace}-{obj.name}")
        path = out / f"{name}.yaml"
        path.write_text(yaml.safe_dump(obj.data, sort_keys=False), encoding="utf-8")
        by_file[path.name] = obj
    if not by_file:
        return []
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false")
    env.pop("BC_API_KEY", None)
    result = subprocess.run(
        [
            checkov_bin,
            "--directory",
            str(out),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--skip-check",
            ",".join(skips),
            "--compact",
            "--quiet",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    try:
        reports = json.loads(result.stdout) if result.stdout.strip() else []
    except json.JSONDecodeError:
        return [
            (
                None,
                Finding(
                    "checkov", "checkov", "", "", f"checkov failed: {result.stderr.strip()[-500:]}"
                ),
            )
        ]
    if isinstance(reports, dict):
        reports = [reports] if "results" in reports else []
    findings: list[tuple[Obj | None, Finding]] = []
    if sum(int((r.get("summary") or {}).get("resource_count", 0)) for r in reports) == 0:
        # A checkov that read nothing passes everything: make that a failure, not a silent OK.
        findings.append(
            (None, Finding("checkov", "checkov", "", "", "checkov scanned no resources"))
        )
    for report in reports:
        for failed in (report.get("results") or {}).get("failed_checks", []):
            obj = by_file.get(Path(failed.get("file_path", "")).name)
            if obj is None:
                continue
            check_id = failed["check_id"]
            if check_id in skip_in.get(rel(obj.target), {}):
                continue
            field = CHECKOV_FIELDS.get(check_id, "")
            located = pod_spec(obj)
            if (
                located
                and field
                and field.split(".")[0]
                in {
                    "securityContext",
                    "resources",
                    "image",
                    "imagePullPolicy",
                    "livenessProbe",
                    "readinessProbe",
                }
            ):
                count = len(located[1].get("containers") or [])
                field = f"{located[0]}.containers[{0 if count == 1 else '*'}].{field}"
            elif located and field in {
                "hostPID",
                "hostIPC",
                "hostNetwork",
                "automountServiceAccountToken",
            }:
                field = f"{located[0]}.{field}"
            findings.append(
                (obj, obj.finding("checkov", field, f"{check_id} {failed.get('check_name', '')}"))
            )
    if result.returncode not in (0, 1):
        findings.append(
            (None, Finding("checkov", "checkov", "", "", f"checkov exited {result.returncode}"))
        )
    return findings


def hadolint(dockerfile: Path, *, hadolint_bin: str) -> list[Finding]:
    """hadolint's findings (any level fails: the Dockerfile is kept clean)."""
    result = subprocess.run(
        [
            hadolint_bin,
            "--no-color",
            "--format",
            "json",
            "--config",
            str(HERE / "hadolint.yaml"),
            str(dockerfile),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        items = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        return [
            Finding("hadolint", rel(dockerfile), "", "", result.stderr.strip() or result.stdout)
        ]
    lines = dockerfile.read_text(encoding="utf-8").splitlines()
    findings = []
    for item in items:
        line = int(item.get("line", 0))
        text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        instruction = text.split(None, 1)[0] if text else ""
        findings.append(
            Finding(
                "hadolint",
                f"{rel(dockerfile)}:{line}",
                f"{instruction} instruction" if instruction else "",
                "",
                f"{item.get('code')} {item.get('message')}",
            )
        )
    return findings
