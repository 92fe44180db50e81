"""Render kustomizations with the real kustomize and remember where each object came from."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from manifest_gate.model import REPO, Finding, Obj, rel

ORIGIN = "config.kubernetes.io/origin"


def render(target: Path, *, kubectl: str, work: Path) -> tuple[list[Obj], list[Finding]]:
    """`kubectl kustomize` the target; objects carry the file that defined them.

    kustomize only records origins (`buildMetadata: [originAnnotations]`) when asked in the
    kustomization itself, so a throw-away wrapper kustomization under `work` includes the
    target and asks for them; the annotation is removed again before any check sees it.
    """
    plain = subprocess.run(
        [kubectl, "kustomize", str(target)], capture_output=True, text=True, check=False
    )
    if plain.returncode != 0:
        message = " ".join(plain.stderr.split()) or "kustomize failed"
        return [], [Finding("render", rel(target), "", "", message)]

    wrapper = work / "wrap" / hashlib.sha256(str(target).encode()).hexdigest()[:12]
    wrapper.mkdir(parents=True, exist_ok=True)
    (wrapper / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "buildMetadata: [originAnnotations]\n"
        f"resources:\n  - {Path(os.path.relpath(target, wrapper)).as_posix()}\n",
        encoding="utf-8",
    )
    traced = subprocess.run(
        [kubectl, "kustomize", str(wrapper)], capture_output=True, text=True, check=False
    )
    source = traced.stdout if traced.returncode == 0 else plain.stdout

    objs: list[Obj] = []
    for doc in yaml.safe_load_all(source):
        if not isinstance(doc, dict):
            continue
        origin = _pop_origin(doc, wrapper) or rel(target / "kustomization.yaml")
        objs.append(Obj(data=doc, target=target, origin=origin))
    return objs, []


def _pop_origin(doc: dict[str, Any], wrapper: Path) -> str:
    meta = doc.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    raw = annotations.pop(ORIGIN, None)
    if not annotations and "annotations" in meta:
        del meta["annotations"]
    if not raw:
        return ""
    origin = yaml.safe_load(raw) or {}
    path = origin.get("path") or origin.get("configuredIn")
    if not path:
        return ""
    resolved = (wrapper / path).resolve()
    try:
        return resolved.relative_to(REPO).as_posix()
    except ValueError:
        return resolved.as_posix()
