"""Cross-references: every name one object uses must exist in the same render (or be optional).

The API server accepts dangling references and the failure shows up later, at runtime: a
Service with no endpoints, a pod stuck in CreateContainerConfigError, an HPA that never scales.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from manifest_gate.model import Finding, Obj, containers, matches, pod_labels, pod_spec


class Index:
    """The objects of one render, by (kind, namespace, name)."""

    def __init__(self, objs: list[Obj]) -> None:
        self.objs = objs
        self.by_key = {(o.kind, o.namespace, o.name): o for o in objs}

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.by_key.get((kind, namespace, name))

    def workloads(self, namespace: str) -> Iterator[Obj]:
        for obj in self.objs:
            if obj.namespace == namespace and pod_spec(obj) is not None:
                yield obj


def _match_labels(selector: Any) -> dict[str, str]:
    if not isinstance(selector, dict):
        return {}
    return {str(k): str(v) for k, v in (selector.get("matchLabels") or {}).items()}


def check(objs: list[Obj]) -> list[Finding]:
    """All cross-reference findings of one render."""
    index = Index(objs)
    findings: list[Finding] = []
    for obj in objs:
        findings.extend(_check_one(obj, index))
    return findings


def _check_one(obj: Obj, index: Index) -> Iterator[Finding]:
    ns = obj.namespace
    spec = obj.data.get("spec") or {}
    if obj.kind == "Service" and spec.get("type") != "ExternalName":
        yield from _service(obj, index)
    if obj.kind == "HorizontalPodAutoscaler":
        ref = spec.get("scaleTargetRef") or {}
        scaled = index.get(str(ref.get("kind")), ns, str(ref.get("name")))
        if scaled is None:
            yield obj.finding(
                "xref",
                "spec.scaleTargetRef",
                f"{ref.get('kind')} {ns}/{ref.get('name')} is not in this render",
            )
        elif "replicas" in (scaled.data.get("spec") or {}):
            yield scaled.finding(
                "xref",
                "spec.replicas",
                f"{scaled.data['spec']['replicas']!r}, but HorizontalPodAutoscaler {ns}/{obj.name} "
                "scales this object: every kubectl apply would reset the HPA's choice; remove "
                "the field where the HPA is added",
            )
    if obj.kind in {"RoleBinding", "ClusterRoleBinding"}:
        yield from _binding(obj, index)
    if obj.kind == "PodDisruptionBudget":
        selector = _match_labels(spec.get("selector"))
        if not any(matches(selector, pod_labels(w)) for w in index.workloads(ns)):
            yield obj.finding("xref", "spec.selector.matchLabels", f"{selector} matches no pods")
    if obj.kind == "NetworkPolicy":
        selector = _match_labels(spec.get("podSelector"))
        if selector and not any(matches(selector, pod_labels(w)) for w in index.workloads(ns)):
            yield obj.finding("xref", "spec.podSelector.matchLabels", f"{selector} matches no pods")
    if obj.kind in {"IngressRoute", "IngressRouteTCP"} and obj.api_version.startswith("traefik."):
        yield from _ingressroute(obj, index)
    found = pod_spec(obj)
    if found is not None:
        yield from _pod(obj, index, *found)


def _service(obj: Obj, index: Index) -> Iterator[Finding]:
    spec = obj.data.get("spec") or {}
    selector = {str(k): str(v) for k, v in (spec.get("selector") or {}).items()}
    if not selector:
        return  # a Service without selector has hand-made EndpointSlices
    selected = [w for w in index.workloads(obj.namespace) if matches(selector, pod_labels(w))]
    if not selected:
        yield obj.finding(
            "xref", "spec.selector", f"{selector} matches the pods of no workload in this render"
        )
        return
    for i, port in enumerate(spec.get("ports") or []):
        target = port.get("targetPort", port.get("port"))
        ports = [
            p
            for w in selected
            for _, c in containers(*pod_spec(w))
            for p in c.get("ports") or []  # type: ignore[misc]
        ]
        if isinstance(target, str):
            ok = any(p.get("name") == target for p in ports)
        else:
            ok = any(p.get("containerPort") == target for p in ports)
        if not ok:
            names = sorted({str(p.get("name") or p.get("containerPort")) for p in ports})
            yield obj.finding(
                "xref",
                f"spec.ports[{i}].targetPort",
                f"{target!r} is not a container port of the selected pods (they have {names})",
            )


def _pod(obj: Obj, index: Index, spec_path: str, spec: dict[str, Any]) -> Iterator[Finding]:
    ns = obj.namespace
    sa = spec.get("serviceAccountName")
    if sa and sa != "default" and index.get("ServiceAccount", ns, sa) is None:
        yield obj.finding(
            "xref",
            f"{spec_path}.serviceAccountName",
            f"ServiceAccount {ns}/{sa} is not in this render",
        )
    for i, volume in enumerate(spec.get("volumes") or []):
        path = f"{spec_path}.volumes[{i}]"
        if "configMap" in volume:
            yield from _ref(obj, index, f"{path}.configMap", "ConfigMap", volume["configMap"])
        if "secret" in volume:
            ref = dict(volume["secret"], name=volume["secret"].get("secretName"))
            yield from _ref(obj, index, f"{path}.secret.secretName", "Secret", ref)
    for cpath, container in containers(spec_path, spec):
        port_names = {p.get("name") for p in container.get("ports") or [] if p.get("name")}
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            for action in ("httpGet", "tcpSocket", "grpc"):
                port = ((container.get(probe) or {}).get(action) or {}).get("port")
                if isinstance(port, str) and port not in port_names:
                    yield obj.finding(
                        "xref",
                        f"{cpath}.{probe}.{action}.port",
                        f"{port!r} is not a named port of this container ({sorted(port_names)})",
                    )
        for i, source in enumerate(container.get("envFrom") or []):
            for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if key in source:
                    yield from _ref(obj, index, f"{cpath}.envFrom[{i}].{key}", kind, source[key])
        for i, env in enumerate(container.get("env") or []):
            value_from = env.get("valueFrom") or {}
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if key in value_from:
                    yield from _ref(
                        obj, index, f"{cpath}.env[{i}].valueFrom.{key}", kind, value_from[key]
                    )


def _ref(obj: Obj, index: Index, path: str, kind: str, ref: dict[str, Any]) -> Iterator[Finding]:
    name = ref.get("name")
    target = index.get(kind, obj.namespace, str(name))
    if target is None:
        if not ref.get("optional"):
            yield obj.finding(
                "xref",
                f"{path}.name",
                f"{kind} {obj.namespace}/{name} is not in this render and the reference is "
                "not optional: true",
            )
        return
    key = ref.get("key")
    if key is not None and not ref.get("optional"):
        data = {**(target.data.get("data") or {}), **(target.data.get("stringData") or {})}
        data.update(target.data.get("binaryData") or {})
        if key not in data:
            yield obj.finding("xref", f"{path}.key", f"{kind} {name} has no key {key!r}")


BUILTIN_CLUSTER_ROLES = {"cluster-admin", "admin", "edit", "view"}
"""ClusterRoles every cluster has (besides the system: ones)."""


def _binding(obj: Obj, index: Index) -> Iterator[Finding]:
    """The role and the ServiceAccounts a (Cluster)RoleBinding names are in the render.

    A render here is a whole application, so a ServiceAccount it binds is one it creates
    (`default` exists in every namespace).
    """
    ref = obj.data.get("roleRef") or {}
    kind, name = str(ref.get("kind")), str(ref.get("name"))
    builtin = kind == "ClusterRole" and (
        name in BUILTIN_CLUSTER_ROLES or name.startswith("system:")
    )
    if not builtin and index.get(kind, obj.namespace if kind == "Role" else "", name) is None:
        yield obj.finding("xref", "roleRef.name", f"{kind} {name} is not in this render")
    for i, subject in enumerate(obj.data.get("subjects") or []):
        if subject.get("kind") != "ServiceAccount" or subject.get("name") == "default":
            continue
        sa, sa_ns = str(subject.get("name")), str(subject.get("namespace") or obj.namespace)
        if index.get("ServiceAccount", sa_ns, sa) is None:
            yield obj.finding(
                "xref",
                f"subjects[{i}].name",
                f"ServiceAccount {sa_ns}/{sa} is not in this render: the role would go to an "
                "account no pod here runs as",
            )


def _ingressroute(obj: Obj, index: Index) -> Iterator[Finding]:
    spec = obj.data.get("spec") or {}
    for r, route in enumerate(spec.get("routes") or []):
        for m, mw in enumerate(route.get("middlewares") or []):
            ns = mw.get("namespace") or obj.namespace
            if index.get("Middleware", ns, str(mw.get("name"))) is None:
                yield obj.finding(
                    "xref",
                    f"spec.routes[{r}].middlewares[{m}].name",
                    f"Middleware {ns}/{mw.get('name')} is not in this render",
                )
        for s, svc in enumerate(route.get("services") or []):
            kind = svc.get("kind") or "Service"
            ns = svc.get("namespace") or obj.namespace
            target = index.get(kind, ns, str(svc.get("name")))
            if target is None:
                yield obj.finding(
                    "xref",
                    f"spec.routes[{r}].services[{s}].name",
                    f"{kind} {ns}/{svc.get('name')} is not in this render",
                )
            transport = svc.get("serversTransport")
            if transport and index.get("ServersTransport", obj.namespace, transport) is None:
                yield obj.finding(
                    "xref",
                    f"spec.routes[{r}].services[{s}].serversTransport",
                    f"ServersTransport {obj.namespace}/{transport} is not in this render",
                )
            if target is not None and kind == "Service" and "port" in svc:
                ports = (target.data.get("spec") or {}).get("ports") or []
                if not any(svc["port"] in (p.get("name"), p.get("port")) for p in ports):
                    yield obj.finding(
                        "xref",
                        f"spec.routes[{r}].services[{s}].port",
                        f"Service {ns}/{svc.get('name')} has no port {svc['port']!r}",
                    )
