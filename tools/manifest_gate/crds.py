"""Pinned CRD files: cached, else vendored (CI's offline seed), else downloaded; sha256-checked.

`python -m manifest_gate.crds` prints those `make deploy-loadtest` installs (stdlib only)."""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from manifest_gate.model import REPO


@dataclass(frozen=True)
class PinnedCrds:
    """One upstream file of CRDs; `vendored` is its path under VENDOR_DIR."""

    name: str
    url: str
    sha256: str
    vendored: str
    deploy: bool = True
    """`make deploy-loadtest` installs it (False: the cluster's operator brings its own)."""


PINNED = (
    PinnedCrds(
        name="traefik-v3.7.9.yml",
        url="https://raw.githubusercontent.com/traefik/traefik/v3.7.9/docs/content/reference/"
        "dynamic-configuration/kubernetes-crd-definition-v1.yml",
        sha256="1d5e8558803804562238b0d4a57174aadd6d87c36e3c4c55199ebcc356a9406c",
        vendored="traefik/kubernetes-crd-definition-v1-v3.7.9.yml",
    ),
    *(  # the Prometheus Operator's, for kustomize/components/monitoring
        PinnedCrds(
            name=f"monitoring.coreos.com_{plural}-v0.93.0.yaml",
            url="https://raw.githubusercontent.com/prometheus-operator/prometheus-operator/"
            f"v0.93.0/example/prometheus-operator-crd-full/monitoring.coreos.com_{plural}.yaml",
            sha256=sha256,
            vendored=f"prometheus-operator/monitoring.coreos.com_{plural}-v0.93.0.yaml",
            deploy=False,
        )
        for plural, sha256 in (
            ("prometheusrules", "78be98554b9c8506ab2b4f4feb91c5f3a56e536a0a510f3a8e876a459970d56d"),
            ("servicemonitors", "a99047972c9dd7679ce2050b9968e8a08773492e671b3e17abd476d42aa78a32"),
        )
    ),
)

VENDOR_DIR = Path(os.environ.get("MANIFEST_GATE_VENDOR_DIR", REPO.parent / "shared/vendor-data"))
Key = tuple[str, str, str]  # (group, version, kind)


class CrdUnavailableError(Exception):
    """A pinned CRD file is neither cached, vendored nor downloadable (or its hash is wrong)."""


def fetch(pin: PinnedCrds, cache: Path) -> Path:
    """The verified local copy of `pin`, filling the cache when needed."""
    dest = cache / pin.name
    if dest.is_file() and hashlib.sha256(dest.read_bytes()).hexdigest() == pin.sha256:
        return dest
    tried = []
    for source in (VENDOR_DIR / pin.vendored, pin.url):
        try:
            if isinstance(source, Path):
                data = source.read_bytes()
            else:
                with urllib.request.urlopen(source, timeout=20) as response:  # noqa: S310 - pinned https URL
                    data = response.read()
        except OSError as exc:
            tried.append(f"{source}: {exc.strerror or exc}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest == pin.sha256:
            cache.mkdir(parents=True, exist_ok=True)
            partial = dest.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(dest)  # in one step, so that no reader sees half a file
            return dest
        tried.append(f"{source} has sha256 {digest}")
    raise CrdUnavailableError(f"{pin.name} (sha256 {pin.sha256}): " + "; ".join(tried))


def schemas_from_crds(docs: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """The openAPIV3Schema of every served version, keyed by (group, version, kind)."""
    out: dict[Key, dict[str, Any]] = {}
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc.get("spec") or {}
        group, kind = spec.get("group", ""), (spec.get("names") or {}).get("kind", "")
        for version in spec.get("versions") or []:
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if version.get("served") is not False and isinstance(schema, dict):
                out[(group, version["name"], kind)] = strict_schema(schema)
    return out


def load_pinned(cache: Path) -> dict[Key, dict[str, Any]]:
    """Schemas of all pinned CRD files (raises CrdUnavailableError)."""
    import yaml  # here, so that main() runs on a bare python3

    texts = (fetch(pin, cache).read_text(encoding="utf-8") for pin in PINNED)
    return schemas_from_crds([doc for text in texts for doc in yaml.safe_load_all(text)])


def strict_schema(node: Any) -> Any:
    """An OpenAPI v3 structural schema as JSON Schema that rejects the unknown fields the API
    server would prune silently (unless x-kubernetes-preserve-unknown-fields): a typo is an error
    here. `nullable` and `x-kubernetes-int-or-string` become plain JSON Schema."""
    if isinstance(node, list):
        return [strict_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strict_schema(value) for key, value in node.items()}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    open_ = "additionalProperties" in node or node.get("x-kubernetes-preserve-unknown-fields")
    if node.get("type") == "object" and "properties" in node and not open_:
        out["additionalProperties"] = False
    return out


def main(argv: list[str]) -> None:
    """Print the verified path of every pinned CRD file to deploy (argument: the cache)."""
    cache = Path(argv[0]) if argv else REPO / ".cache" / "crds"
    try:
        print(*(fetch(pin, cache) for pin in PINNED if pin.deploy), sep="\n")
    except CrdUnavailableError as exc:
        raise SystemExit(f"manifest_gate.crds: cannot get {exc}") from None


if __name__ == "__main__":
    main(sys.argv[1:])
