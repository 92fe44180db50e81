"""Cross-references: every name one object uses must exist in the same render (or be optional).

The API server accepts dangling references and the failure shows up later, at runtime: a
Service with no endpoints, a pod stuck in CreateContainerConfigError, an HPA that never scales.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import product
from typing import Any, NamedTuple

from manifest_gate.model import Finding, Obj, containers, matches, pod_labels, pod_spec

EVERYWHERE = {("ServiceAccount", "default"), ("ClusterRole", "cluster-admin")}
EVERYWHERE |= {("ClusterRole", "admin"), ("ClusterRole", "edit"), ("ClusterRole", "view")}
"""What every cluster has (besides the ClusterRoles named system:*)."""
NAME_FIELDS = {"configMap": "ConfigMap", "secret": "Secret", "configMapRef": "ConfigMap"}
NAME_FIELDS |= {"secretRef": "Secret", "valueFrom.configMapKeyRef": "ConfigMap"}
NAME_FIELDS |= {"valueFrom.secretKeyRef": "Secret"}
"""Fields of volumes, envFrom and env valueFrom that name a ConfigMap or Secret."""
SELECTORS = {"Service": "spec.selector", "NetworkPolicy": "spec.podSelector.matchLabels"}
SELECTORS["PodDisruptionBudget"] = "spec.selector.matchLabels"
PROBE_ACTIONS = ("httpGet", "tcpSocket", "grpc")
ENV_LISTS = ("envFrom", "env")


class Index:
    """The objects of one render, by (kind, namespace, name)."""

    def __init__(self, objs: list[Obj]) -> None:
        self.objs = objs
        self.by_key = {(o.kind, o.namespace, o.name): o for o in objs}

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.by_key.get((kind, namespace, name))

    def workloads(self, namespace: str) -> Iterator[Obj]:
        return (o for o in self.objs if o.namespace == namespace and pod_spec(o) is not None)


class Ref(NamedTuple):
    """One name an object uses: the field that holds it, what it names, and which item in it."""

    field: str
    kind: str
    namespace: str
    name: str
    optional: bool = False
    key: Any = None
    """A data key of the ConfigMap or Secret, or a port of the Service."""


def refs(obj: Obj) -> Iterator[Ref]:
    """Every by-name reference `obj` makes."""
    ns, spec, get = obj.namespace, obj.data.get("spec") or {}, obj.value
    if obj.kind == "HorizontalPodAutoscaler":
        kind, name = str(get("spec.scaleTargetRef.kind")), str(get("spec.scaleTargetRef.name"))
        yield Ref("spec.scaleTargetRef", kind, ns, name)
    if obj.kind in {"RoleBinding", "ClusterRoleBinding"}:
        kind, name = str(get("roleRef.kind")), str(get("roleRef.name"))
        yield Ref("roleRef.name", kind, ns if kind == "Role" else "", name)
        for i, sub in enumerate(obj.data.get("subjects") or []):
            if sub.get("kind") == "ServiceAccount":
                sa_ns, sa = sub.get("namespace") or ns, str(sub.get("name"))
                yield Ref(f"subjects[{i}].name", "ServiceAccount", sa_ns, sa)
    if obj.kind in {"IngressRoute", "IngressRouteTCP"} and obj.api_version.startswith("traefik."):
        for r, route in enumerate(spec.get("routes") or []):
            for m, mw in enumerate(route.get("middlewares") or []):
                at = f"spec.routes[{r}].middlewares[{m}].name"
                yield Ref(at, "Middleware", mw.get("namespace") or ns, str(mw.get("name")))
            for s, svc in enumerate(route.get("services") or []):
                at, kind = f"spec.routes[{r}].services[{s}]", svc.get("kind") or "Service"
                port = svc.get("port") if kind == "Service" else None  # TraefikServices have none
                name, svc_ns = str(svc.get("name")), svc.get("namespace") or ns
                yield Ref(f"{at}.name", kind, svc_ns, name, key=port)
                if transport := svc.get("serversTransport"):
                    yield Ref(f"{at}.serversTransport", "ServersTransport", ns, transport)
    if (found := pod_spec(obj)) is None:
        return
    at, pod = found
    sa = str(pod.get("serviceAccountName") or "default")
    yield Ref(f"{at}.serviceAccountName", "ServiceAccount", ns, sa)
    lists = [f"{at}.volumes", *(f"{c}.{k}" for c, _ in containers(at, pod) for k in ENV_LISTS)]
    for item in (f"{path}[{i}]" for path in lists for i in range(len(obj.value(path) or []))):
        for field, kind in NAME_FIELDS.items():
            if isinstance(ref := obj.value(f"{item}.{field}"), dict):
                name = "secretName" if field == "secret" else "name"  # a volume's Secret
                where = f"{item}.{field}.secretName" if field == "secret" else f"{item}.{field}"
                optional, key = bool(ref.get("optional")), ref.get("key")
                yield Ref(f"{where}.name", kind, ns, str(ref.get(name)), optional, key)


def check(objs: list[Obj]) -> list[Finding]:
    """All cross-reference findings of one render."""
    index = Index(objs)
    findings = [f for obj in objs for ref in refs(obj) for f in _resolve(obj, ref, index)]
    return findings + [f for obj in objs for f in [*_selects(obj, index), *_probe_ports(obj)]]


def _resolve(obj: Obj, ref: Ref, index: Index) -> Iterator[Finding]:
    target = index.get(ref.kind, ref.namespace, ref.name)
    named = f"{ref.kind} {ref.namespace}/{ref.name}".replace(" /", " ")
    if (ref.kind, ref.name) in EVERYWHERE or ref.name.startswith("system:") or ref.optional:
        return
    if target is None:
        fix = " and the reference is not optional: true" if ref.kind in NAME_FIELDS.values() else ""
        yield obj.finding("xref", ref.field, f"{named} is not in this render{fix}")
    elif ref.key is not None:
        ports = [(p.get("name"), p.get("port")) for p in target.value("spec.ports") or []]
        data = [target.data.get(f) or {} for f in ("data", "stringData", "binaryData")]
        what = "port" if ref.kind == "Service" else "key"
        if ref.key not in {k for keys in (ports if what == "port" else data) for k in keys}:
            field = f"{ref.field.removesuffix('.name')}.{what}"
            yield obj.finding("xref", field, f"{named} has no {what} {ref.key!r}")
    elif obj.kind == "HorizontalPodAutoscaler" and target.value("spec.replicas") is not None:
        message = f"{target.value('spec.replicas')!r}, but {obj.ident} scales this object: every "
        message += "kubectl apply would reset its choice; remove the field where the HPA is added"
        yield target.finding("xref", "spec.replicas", message)


def _selects(obj: Obj, index: Index) -> Iterator[Finding]:
    """A selector matches some workload's pods, and these have a Service's every targetPort."""
    selector = obj.value(SELECTORS[obj.kind]) if obj.kind in SELECTORS else None
    if not selector or obj.value("spec.type") == "ExternalName":
        return  # an empty selector: all pods (for a Service, hand-made EndpointSlices)
    pods = [w for w in index.workloads(obj.namespace) if matches(selector, pod_labels(w))]
    if not pods:
        message = f"{selector} matches the pods of no workload in this render"
        yield obj.finding("xref", SELECTORS[obj.kind], message)
    specs = [pod_spec(w) or ("", {}) for w in pods]
    ports = [p for spec in specs for _, c in containers(*spec) for p in c.get("ports") or []]
    for i, port in enumerate(obj.value("spec.ports") or [] if pods else []):  # only a Service's
        target = port.get("targetPort", port.get("port"))
        by = "name" if isinstance(target, str) else "containerPort"
        if not any(p.get(by) == target for p in ports):
            names = sorted({str(p.get("name") or p.get("containerPort")) for p in ports})
            message = f"{target!r} is not a container port of the selected pods (they have {names})"
            yield obj.finding("xref", f"spec.ports[{i}].targetPort", message)


def _probe_ports(obj: Obj) -> Iterator[Finding]:
    """A probe's named port is one of its container's ports."""
    found = pod_spec(obj)
    for cpath, container in containers(*found) if found else ():
        names = sorted(p["name"] for p in container.get("ports") or [] if p.get("name"))
        for probe, action in product(("liveness", "readiness", "startup"), PROBE_ACTIONS):
            port = obj.value(f"{cpath}.{probe}Probe.{action}.port")
            if isinstance(port, str) and port not in names:
                message = f"{port!r} is not a named port of this container ({names})"
                yield obj.finding("xref", f"{cpath}.{probe}Probe.{action}.port", message)
