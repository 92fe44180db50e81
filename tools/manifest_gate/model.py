"""What the checks share: the findings they report and the rendered objects they look at."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
Serving = list[tuple["Obj", dict[str, Any]]]
"""(workload, the settings `weather-api serve` starts with in it) for each service container."""


def rel(path: Path | str) -> str:
    """A path as the user typed it: relative to the repository when it lies inside it."""
    p = Path(path).resolve()
    return (p.relative_to(REPO) if p.is_relative_to(REPO) else p).as_posix()


@dataclass(frozen=True)
class Finding:
    """One problem: which check, where (file, object, field) and what."""

    check: str
    file: str
    obj: str
    field: str
    message: str

    def __str__(self) -> str:
        parts = [f"[{self.check}] {self.file}", self.obj, self.field]
        return ": ".join([*filter(None, parts), self.message])


def fmt_path(path: Iterable[Any]) -> str:
    """`spec.template.spec.containers[0].ports[0]` from a jsonschema-style path."""
    out = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
    return out.removeprefix(".")


@dataclass
class Obj:
    """One rendered object, with the kustomization that rendered it and the file it came from."""

    data: dict[str, Any]
    target: Path
    origin: str
    """Repo-relative file the object was defined in (or the kustomization that generated it)."""

    kind: str = field(init=False)
    api_version: str = field(init=False)
    name: str = field(init=False)
    namespace: str = field(init=False)
    ident: str = field(init=False)
    """`Kind namespace/name`, or `Kind name` for a cluster-scoped object."""

    def __post_init__(self) -> None:
        meta = self.data.get("metadata") or {}
        self.kind = str(self.data.get("kind", ""))
        self.api_version = str(self.data.get("apiVersion", ""))
        self.name = str(meta.get("name", ""))
        self.namespace = str(meta.get("namespace") or "")
        self.ident = f"{self.kind} {self.namespace}/{self.name}".replace(" /", " ", 1)

    def finding(self, check: str, field_path: str, message: str) -> Finding:
        """A finding about `field_path` of this object, pointing at the file that sets it."""
        return Finding(check, self.locate(field_path), self.ident, field_path, message)

    def locate(self, field_path: str) -> str:
        """file:line most likely to set `field_path` (kustomize keeps no field-level origins):
        the first of `key: value`, a JSON patch `path:` ending in the key, or the key, in the
        target's own files (the object's own first) and the origin file; else the origin file."""
        leaf = re.sub(r"\[\d+\]$", "", field_path.rsplit(".", 1)[-1])
        if re.fullmatch(r"[A-Za-z0-9_.-]+", leaf):
            key = rf"^\s*(?:-\s*)?['\"]?{re.escape(leaf)}['\"]?\s*[:=]"
            patterns = [rf"^\s*(?:-\s*)?path:\s*\S*/{re.escape(leaf)}\s*$", key]
            if isinstance(value := self.value(field_path), str | int | float | bool):
                text = str(value).lower() if isinstance(value, bool) else str(value)
                patterns.insert(0, rf"{key}\s*['\"]?{re.escape(text)}['\"]?\s*(?:#.*)?$")
            origin = REPO / self.origin
            files = sorted(self.target_files(), key=lambda p: p.resolve() != origin.resolve())
            for pattern in map(re.compile, patterns):
                for path in [*files, origin]:
                    if hit := first_line(path, pattern):
                        return f"{rel(path)}:{hit}"
        if Path(self.origin).is_relative_to(rel(self.target)):
            return self.origin
        return f"{self.origin} (via {rel(self.target)})"

    def value(self, field_path: str) -> Any:
        """The value at `a.b[0].c` in this object, or None."""
        node: Any = self.data
        for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", field_path):
            if index and isinstance(node, list) and int(index) < len(node):
                node = node[int(index)]
            else:
                node = node.get(name) if name and isinstance(node, dict) else None
        return node

    def target_files(self) -> Iterator[Path]:
        """The YAML and env files of the kustomization that rendered this object."""
        for path in sorted(self.target.iterdir()):
            skip = path.name in {"kustomization.yaml", "expect.yaml"}
            if path.is_file() and path.suffix in {".yaml", ".yml", ".env"} and not skip:
                yield path


def first_line(path: Path, pattern: re.Pattern[str]) -> int:
    """The number of the first line of `path` that `pattern` finds, or 0."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 0
    return next((n for n, line in enumerate(lines, start=1) if pattern.search(line)), 0)


TEMPLATED = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job")
POD_SPEC_PATHS = {"Pod": "spec", "CronJob": "spec.jobTemplate.spec.template.spec"}
POD_SPEC_PATHS |= dict.fromkeys(TEMPLATED, "spec.template.spec")


def pod_spec(obj: Obj) -> tuple[str, dict[str, Any]] | None:
    """(field path, pod spec) of a workload, or None for objects that run no pods."""
    path = POD_SPEC_PATHS.get(obj.kind)
    node = obj.value(path) if path else None
    return (path, node) if path and isinstance(node, dict) else None


def pod_labels(obj: Obj) -> dict[str, str]:
    """Labels of the pods a workload creates (a Pod's own labels)."""
    path = POD_SPEC_PATHS.get(obj.kind, "")
    labels = obj.value(path.removesuffix("spec") + "metadata.labels") if path else None
    return {str(k): str(v) for k, v in (labels or {}).items()}


def matches(selector: Any, labels: dict[str, str]) -> bool:
    """Whether a non-empty equality selector (`{k: v}`) selects pods with `labels`."""
    selector = {str(k): str(v) for k, v in (selector or {}).items()}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def selects(service: Obj, workload: Obj) -> bool:
    """Whether a Service sends traffic to the pods of a workload (same namespace, selector)."""
    selector = (service.data.get("spec") or {}).get("selector")
    return service.namespace == workload.namespace and matches(selector, pod_labels(workload))


def image_name(container: dict[str, Any]) -> str:
    """`traefik` for `docker.io/traefik:v3.7.9@sha256:...`."""
    return str(container.get("image", "")).split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]


def containers(spec_path: str, spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(field path, container) for init, regular and ephemeral containers."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in enumerate(spec.get(key) or []):
            if isinstance(container, dict):
                yield f"{spec_path}.{key}[{i}]", container


ROLES = {"traefik": "traefik", "redis": "redis", "weather-api-loadtest": "locust"}
"""Roles by image; the weather-api image is the service, or the stub when argv says so."""


def role(obj: Obj) -> str:
    """'service', 'stub', 'traefik', 'redis', 'locust' or '' for a workload's pods (by image)."""
    located = pod_spec(obj)
    for _, container in containers(*located) if located else ():
        if (image := image_name(container)) == "weather-api":
            argv = [*(container.get("command") or []), *(container.get("args") or [])]
            return "stub" if "stub" in argv[:2] else "service"
        if image in ROLES:
            return ROLES[image]
    return ""
