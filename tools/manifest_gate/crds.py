"""Pinned CustomResourceDefinitions: fetched once into a cache, verified by sha256.

The CRD files are never committed. They are looked for, in order, in the cache, in a vendored
copy beside the repository (`../shared/vendor-data/`, which is how CI seeds the cache offline)
and at their pinned URL; whatever is found must match the pinned sha256.

`python -m manifest_gate.crds` (tools/ on sys.path) prints the verified local path of each
pinned file, for `make deploy-loadtest` to install the same CRDs the gate validated against;
that needs only the standard library.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from manifest_gate.model import REPO


@dataclass(frozen=True)
class PinnedCrds:
    """One upstream file of CRDs."""

    name: str
    url: str
    sha256: str
    vendored: str
    """Path of the offline copy, relative to the vendor directory."""
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
    # The Prometheus Operator's, for kustomize/components/monitoring: validated against here,
    # never installed by us (the operator that reads them installs them).
    *(
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

VENDOR_DIR = Path(
    os.environ.get("MANIFEST_GATE_VENDOR_DIR", REPO.parent / "shared" / "vendor-data")
)


class CrdUnavailableError(Exception):
    """A pinned CRD file is neither cached, vendored nor downloadable (or its hash is wrong)."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(pin: PinnedCrds, cache: Path) -> Path:
    """The verified local copy of `pin`, filling the cache when needed."""
    cache.mkdir(parents=True, exist_ok=True)
    dest = cache / pin.name
    if dest.is_file() and _sha256(dest) == pin.sha256:
        return dest
    tried = []
    vendored = VENDOR_DIR / pin.vendored
    if vendored.is_file():
        if _sha256(vendored) == pin.sha256:
            shutil.copyfile(vendored, dest)
            return dest
        tried.append(f"{vendored} has the wrong sha256")
    else:
        tried.append(f"no {vendored}")
    partial = dest.with_suffix(".part")
    try:
        with urllib.request.urlopen(pin.url, timeout=20) as response:  # noqa: S310 - pinned https URL
            partial.write_bytes(response.read())
    except OSError as exc:
        tried.append(f"download failed ({exc})")
    else:
        if _sha256(partial) == pin.sha256:
            partial.replace(dest)
            return dest
        tried.append(f"download of {pin.url} has sha256 {_sha256(partial)}")
        partial.unlink()
    raise CrdUnavailableError(f"{pin.name} (sha256 {pin.sha256}): " + "; ".join(tried))


Key = tuple[str, str, str]
"""(group, version, kind)"""


def schemas_from_crds(docs: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """The openAPIV3Schema of every served version, keyed by (group, version, kind)."""
    out: dict[Key, dict[str, Any]] = {}
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc.get("spec") or {}
        group, kind = spec.get("group", ""), (spec.get("names") or {}).get("kind", "")
        for version in spec.get("versions") or []:
            if version.get("served") is False:
                continue
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if isinstance(schema, dict):
                out[(group, version["name"], kind)] = strict_schema(schema)
    return out


def load_pinned(cache: Path) -> dict[Key, dict[str, Any]]:
    """Schemas of all pinned CRD files (raises CrdUnavailableError)."""
    import yaml  # here, so that main() runs on a bare python3

    docs: list[dict[str, Any]] = []
    for pin in PINNED:
        docs.extend(yaml.safe_load_all(fetch(pin, cache).read_text(encoding="utf-8")))
    return schemas_from_crds(docs)


def strict_schema(node: Any) -> Any:
    """An OpenAPI v3 structural schema as JSON Schema that rejects unknown fields.

    The API server prunes fields a structural schema does not declare (unless the schema says
    x-kubernetes-preserve-unknown-fields); a typo would vanish silently in the cluster, so here
    it is an error instead. `nullable` and `x-kubernetes-int-or-string` become plain JSON Schema.
    """
    if isinstance(node, list):
        return [strict_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: strict_schema(value)
        for key, value in node.items()
        if key not in {"nullable", "x-kubernetes-int-or-string"}
    }
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        node.get("type") == "object"
        and "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def main(argv: list[str]) -> int:
    """Print the verified path of every pinned CRD file to deploy (argument: the cache)."""
    cache = Path(argv[0]) if argv else REPO / ".cache" / "crds"
    try:
        for pin in PINNED:
            if pin.deploy:
                print(fetch(pin, cache))
    except CrdUnavailableError as exc:
        print(f"manifest_gate.crds: cannot get {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
