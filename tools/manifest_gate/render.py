"""Render kustomizations with the real kustomize and remember where each object came from."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from manifest_gate.model import Finding, Obj, rel


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
        if isinstance(doc, dict):
            origin = _pop_origin(doc, wrapper) or rel(target / "kustomization.yaml")
            objs.append(Obj(data=doc, target=target, origin=origin))
    return objs, []


def _pop_origin(doc: dict[str, Any], wrapper: Path) -> str:
    """The file kustomize's origin annotation names ("" if none), taken out of the object."""
    meta = doc.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    origin = yaml.safe_load(annotations.pop("config.kubernetes.io/origin", "")) or {}
    if not annotations:
        meta.pop("annotations", None)
    path = origin.get("path") or origin.get("configuredIn")
    return rel(wrapper / path) if path else ""
