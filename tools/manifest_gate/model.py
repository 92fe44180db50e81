"""What the checks share: the findings they report and the rendered objects they look at."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
Serving = list[tuple["Obj", dict[str, Any]]]
"""(workload, the settings `weather-api serve` starts with in it) for each service container."""


def rel(path: Path | str) -> str:
    """A path as the user typed it: relative to the repository when it lies inside it."""
    p = Path(path).resolve()
    try:
        return p.relative_to(REPO).as_posix()
    except ValueError:
        return p.as_posix()


@dataclass(frozen=True)
class Finding:
    """One problem: which check, where (file, object, field) and what."""

    check: str
    file: str
    obj: str
    field: str
    message: str

    def __str__(self) -> str:
        parts = [f"[{self.check}] {self.file}"]
        if self.obj:
            parts.append(self.obj)
        if self.field:
            parts.append(self.field)
        return ": ".join(parts) + f": {self.message}"


def fmt_path(path: Iterable[Any]) -> str:
    """`spec.template.spec.containers[0].ports[0]` from a jsonschema-style path."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class Obj:
    """One rendered object, with the kustomization that rendered it and the file it came from."""

    data: dict[str, Any]
    target: Path
    origin: str
    """Repo-relative file the object was defined in (or the kustomization that generated it)."""

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.data.get("apiVersion", ""))

    @property
    def name(self) -> str:
        return str((self.data.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str:
        return str((self.data.get("metadata") or {}).get("namespace") or "")

    @property
    def ident(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name}"

    def finding(self, check: str, field_path: str, message: str) -> Finding:
        """A finding about `field_path` of this object, pointing at the file that sets it."""
        return Finding(check, self.locate(field_path), self.ident, field_path, message)

    def locate(self, field_path: str) -> str:
        """The source file and line most likely to set `field_path`.

        kustomize keeps no field-level origins, so this searches the target's own files (the
        object's own file first, then patches) and the origin file: for `key: value`, then a
        JSON patch `path:` ending in the key, then the bare key. Else the origin file alone.
        """
        leaf = re.sub(r"\[\d+\]$", "", field_path.rsplit(".", 1)[-1]) if field_path else ""
        origin = REPO / self.origin
        own = sorted(self.target_files(), key=lambda p: p.resolve() != origin.resolve())
        if re.fullmatch(r"[A-Za-z0-9_.-]+", leaf):
            key = rf"^\s*(?:-\s*)?['\"]?{re.escape(leaf)}['\"]?\s*[:=]"
            patterns = [rf"^\s*(?:-\s*)?path:\s*\S*/{re.escape(leaf)}\s*$", key]
            value = self.value(field_path)
            if isinstance(value, str | int | float | bool):
                text = str(value).lower() if isinstance(value, bool) else str(value)
                patterns.insert(0, rf"{key}\s*['\"]?{re.escape(text)}['\"]?\s*(?:#.*)?$")
            for pattern in map(re.compile, patterns):
                for path in [*own, origin]:
                    if hit := first_line(path, pattern):
                        return f"{rel(path)}:{hit}"
        if rel(self.target) != self.origin and not self.origin.startswith(rel(self.target) + "/"):
            return f"{self.origin} (via {rel(self.target)})"
        return self.origin

    def value(self, field_path: str) -> Any:
        """The value at `a.b[0].c` in this object, or None."""
        node: Any = self.data
        for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", field_path):
            if index:
                node = (
                    node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
                )
            else:
                node = node.get(name) if isinstance(node, dict) else None
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
    for number, line in enumerate(lines, start=1):
        if pattern.search(line):
            return number
    return 0


POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def pod_spec(obj: Obj) -> tuple[str, dict[str, Any]] | None:
    """(field path, pod spec) of a workload, or None for objects that run no pods."""
    path = POD_SPEC_PATHS.get(obj.kind)
    if path is None:
        return None
    node: Any = obj.data
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return (".".join(path), node) if isinstance(node, dict) else None


def pod_labels(obj: Obj) -> dict[str, str]:
    """Labels of the pods a workload creates (a Pod's own labels)."""
    node: Any = obj.data
    for key in POD_SPEC_PATHS.get(obj.kind, ("",))[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    meta = (node or {}).get("metadata") or {} if obj.kind in POD_SPEC_PATHS else {}
    return {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}


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


def role(obj: Obj) -> str:
    """'service', 'stub', 'traefik', 'redis', 'locust' or '' for a workload's pods (by image)."""
    located = pod_spec(obj)
    for _, container in containers(*located) if located else ():
        image, argv = image_name(container), argv_of(container)
        if image == "weather-api":
            return "stub" if "stub" in argv[:2] else "service"
        if image in {"traefik", "redis"}:
            return image
        if image == "weather-api-loadtest":
            return "locust"
    return ""


def argv_of(container: dict[str, Any]) -> list[str]:
    """A container's command and args, as words."""
    return [str(w) for w in [*(container.get("command") or []), *(container.get("args") or [])]]
