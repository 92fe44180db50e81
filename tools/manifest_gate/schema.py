"""Strict schema validation: built-in kinds with kubernetes-validate, custom resources with CRDs."""

from __future__ import annotations

import functools
import re
from pathlib import Path

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


def _where(error: jsonschema.ValidationError) -> tuple[str, str]:
    """(field, problem); for an unknown key, the field is the key itself rather than its parent."""
    path, message = list(error.absolute_path), str(error.message)
    if error.validator == "additionalProperties":
        message = "unknown field " + message.split("(", 1)[-1].rstrip(")")
        names = re.findall(r"'([^']+)'", message)
        if len(names) == 1:
            path.append(names[0])
    return fmt_path(path) or "(root)", message


def validate(objs: list[Obj], *, versions: list[str], crd_cache: Path) -> list[Finding]:
    """Findings for every object against every Kubernetes minor (custom resources: their CRD)."""
    _keep_schema_files_parsed()
    findings: list[Finding] = []
    # CRDs that the render itself contains count too (an overlay may ship its own).
    schemas = crds.schemas_from_crds([o.data for o in objs])
    pinned_tried = False
    for obj in objs:
        for version in versions:
            try:
                kubernetes_validate.validate(obj.data, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                break  # not a built-in kind: a custom resource
            except kubernetes_validate.ValidationError as error:
                field, message = _where(error)
                findings.append(obj.finding("schema", field, f"{message} (Kubernetes {version})"))
        else:  # no break: a built-in kind, done
            continue
        group, _, api = obj.api_version.rpartition("/")
        key = (group, api, obj.kind)
        if key not in schemas and not pinned_tried:
            pinned_tried = True
            try:
                schemas = crds.load_pinned(crd_cache) | schemas
            except crds.CrdUnavailableError as exc:
                findings.append(obj.finding("crd", "apiVersion", f"cannot load CRDs: {exc}"))
        if key not in schemas:
            message = f"no schema for {obj.api_version} {obj.kind}: not a Kubernetes "
            message += f"{'/'.join(versions)} kind and no pinned CRD defines it"
            findings.append(obj.finding("schema", "apiVersion", message))
            continue
        errors = jsonschema.Draft7Validator(schemas[key]).iter_errors(obj.data)
        ordered = sorted(errors, key=lambda e: list(e.absolute_path))
        findings.extend(obj.finding("crd", *_where(e)) for e in ordered)
    return findings
