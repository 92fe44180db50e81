"""Strict schema validation: built-in kinds with kubernetes-validate, custom resources with CRDs."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils

from manifest_gate import crds
from manifest_gate.model import Finding, Obj, fmt_path


def _keep_schema_files_parsed() -> None:
    """Parse each of kubernetes-validate's schema files once per run, not once per object.

    Its validate() re-reads the kind's schema and 1.5 MB of shared definitions through
    `utils.schema_contents` on every call, which made schema validation the gate's slowest step.
    An internal of kubernetes-validate: pinned in requirements/manifests.txt, and
    tests/manifests/test_manifest_gate.py::test_schema_files_are_parsed_once names it when a
    release stops reading through it.
    """
    utils = kubernetes_validate.utils
    if not hasattr(utils.schema_contents, "cache_info"):
        utils.schema_contents = functools.lru_cache(maxsize=None)(utils.schema_contents)


def _field(error: jsonschema.ValidationError) -> str:
    """The offending field; for an unknown key, the key itself rather than its parent."""
    path = fmt_path(error.absolute_path)
    if error.validator == "additionalProperties":
        names = re.findall(r"'([^']+)'", error.message.split("(", 1)[-1])
        if len(names) == 1:
            return f"{path}.{names[0]}" if path else names[0]
    return path or "(root)"


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return "unknown field " + error.message.split("(", 1)[-1].rstrip(")")
    return error.message


def validate(objs: list[Obj], *, versions: list[str], crd_cache: Path) -> tuple[list[Finding], int]:
    """Findings for every object against every Kubernetes minor; also counts CRs checked."""
    _keep_schema_files_parsed()
    findings: list[Finding] = []
    # CRDs that the render itself contains count too (an overlay may ship its own).
    local_crds = crds.schemas_from_crds([o.data for o in objs])
    pinned: dict[crds.Key, dict[str, Any]] | None = None
    custom = 0
    for obj in objs:
        builtin_missing = False
        for version in versions:
            try:
                kubernetes_validate.validate(obj.data, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                builtin_missing = True
                break
            except kubernetes_validate.ValidationError as error:
                findings.append(
                    obj.finding(
                        "schema", _field(error), f"{_message(error)} (Kubernetes {version})"
                    )
                )
        if not builtin_missing:
            continue
        group, _, api = obj.api_version.rpartition("/")
        key = (group, api, obj.kind)
        schema = local_crds.get(key)
        if schema is None:
            if pinned is None:
                try:
                    pinned = crds.load_pinned(crd_cache)
                except crds.CrdUnavailableError as exc:
                    findings.append(obj.finding("crd", "apiVersion", f"cannot load CRDs: {exc}"))
                    pinned = {}
            schema = pinned.get(key)
        if schema is None:
            findings.append(
                obj.finding(
                    "schema",
                    "apiVersion",
                    f"no schema for {obj.api_version} {obj.kind}: not a Kubernetes "
                    f"{'/'.join(versions)} kind and no pinned CRD defines it",
                )
            )
            continue
        custom += 1
        validator = jsonschema.Draft7Validator(schema)
        errors = sorted(validator.iter_errors(obj.data), key=lambda e: list(e.absolute_path))
        findings.extend(obj.finding("crd", _field(e), _message(e)) for e in errors)
    return findings, custom
