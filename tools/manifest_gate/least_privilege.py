"""Least privilege and the load test's requests budget, as short checks over one render.

Which pods are which comes from their images (`weather-api` without the `stub` command is the
service, `traefik`, `redis`, `weather-api-loadtest` is Locust), not from names an overlay may
change. Each check has a failing fixture in fixtures/.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from manifest_gate.model import Finding, Obj, pod_labels, pod_spec, role

PROFILE = {"cpu": 4.0, "memory": 8 * 2**30}
"""The load test's documented minikube profile (`minikube start -p weather-loadtest --cpus=4
--memory=8g`, docs/kubernetes.md; a test holds the two together)."""
ALLOWANCE = {"cpu": 1.2, "memory": 512 * 2**20}
"""What the cluster itself requests on that node: kube-system's control plane (etcd 100m,
apiserver 250m, controller-manager 200m, scheduler 100m), CoreDNS (100m, 70Mi), metrics-server
(100m, 200Mi) and the CNI (calico-node 250m; kindnet 100m, 50Mi): 1.1 CPU and ~370Mi, rounded up."""
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}


def quantity(value: Any) -> float:
    """A Kubernetes quantity (`100m`, `1`, `128Mi`, `1G`) as a number of cores or bytes."""
    text = str(value)
    if text.endswith("m"):
        return float(text[:-1]) / 1000
    for suffix, factor in _UNITS.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def _policies(objs: list[Obj], pod: Obj, kind: str) -> list[Obj]:
    """The NetworkPolicies of `kind` (Ingress, Egress) that select the pods of `pod`."""
    labels = pod_labels(pod)
    found = []
    for policy in objs:
        spec = policy.data.get("spec") or {}
        if policy.kind != "NetworkPolicy" or policy.namespace != pod.namespace:
            continue
        match = (spec.get("podSelector") or {}).get("matchLabels") or {}
        if kind in (spec.get("policyTypes") or []) and all(
            labels.get(str(k)) == str(v) for k, v in match.items()
        ):
            found.append(policy)
    return found


def _peer_selects(peer: dict[str, Any], pods: list[Obj]) -> bool:
    """Whether a policy peer names pods of this namespace, and only pods among `pods`."""
    match = (peer.get("podSelector") or {}).get("matchLabels") or {}
    if set(peer) != {"podSelector"} or not match:
        return False
    return any(all(pod_labels(p).get(str(k)) == str(v) for k, v in match.items()) for p in pods)


def _private(peer: dict[str, Any]) -> bool:
    try:
        return ipaddress.ip_network(str(peer["ipBlock"]["cidr"]), strict=False).is_private
    except (KeyError, TypeError, ValueError):
        return False


def _dns(peer: dict[str, Any]) -> bool:
    namespace = (peer.get("namespaceSelector") or {}).get("matchLabels") or {}
    pods = (peer.get("podSelector") or {}).get("matchLabels") or {}
    return namespace == {"kubernetes.io/metadata.name": "kube-system"} and pods == {
        "k8s-app": "kube-dns"
    }


def budget(objs: list[Obj]) -> Iterator[Finding]:
    """A load test's pods at the HPA's maxReplicas, plus ALLOWANCE, fit PROFILE."""
    workloads = [o for o in objs if pod_spec(o)]
    if not any(role(o) == "locust" for o in workloads):
        return
    ceilings = {
        ((h.data.get("spec") or {}).get("scaleTargetRef") or {}).get("name"): h
        for h in objs
        if h.kind == "HorizontalPodAutoscaler"
    }
    total = dict.fromkeys(PROFILE, 0.0)
    parts = []
    for obj in workloads:
        spec = obj.data.get("spec") or {}
        hpa = ceilings.get(obj.name) if obj.kind == "Deployment" else None
        count = int(
            (hpa.data["spec"].get("maxReplicas", 1) if hpa else None)
            or (spec.get("parallelism", 1) if obj.kind == "Job" else spec.get("replicas", 1))
        )
        pod = (pod_spec(obj) or ("", {}))[1]
        for resource in PROFILE:
            asks = {
                key: [
                    quantity(((c.get("resources") or {}).get("requests") or {}).get(resource, 0))
                    for c in pod.get(key) or []
                ]
                for key in ("containers", "initContainers")
            }
            # A pod's effective request: its containers together, or its largest init container.
            total[resource] += count * max([sum(asks["containers"]), *asks["initContainers"]])
        parts.append(f"{count} x {obj.name}")
    for resource, limit in PROFILE.items():
        room = limit - ALLOWANCE[resource]
        if total[resource] > room:

            def shown(value: float, resource: str = resource) -> str:
                return f"{value:.2f} CPU" if resource == "cpu" else f"{value / 2**20:.0f}Mi"

            target = next(iter(ceilings.values()), workloads[0])
            yield target.finding(
                "budget",
                "spec.maxReplicas" if target.kind == "HorizontalPodAutoscaler" else "spec",
                f"{resource} requests at full scale ({', '.join(parts)}) add up to "
                f"{shown(total[resource])}; with {shown(ALLOWANCE[resource])} for kube-system, "
                f"metrics-server and the CNI that exceeds the documented minikube profile's "
                f"{shown(limit)}: pods would stay Pending",
            )


def fences(objs: list[Obj]) -> Iterator[Finding]:
    """NetworkPolicies, RBAC and Secrets as tight as the docs say (docs/kubernetes.md)."""
    workloads = [o for o in objs if pod_spec(o)]
    by_role: dict[str, list[Obj]] = {}
    for obj in workloads:
        by_role.setdefault(role(obj), []).append(obj)
    load_test = bool(by_role.get("locust"))
    traefik = by_role.get("traefik", [])
    # Every namespace an overlay creates denies ingress unless a pod's own policy allows it.
    for namespace in (o for o in objs if o.kind == "Namespace"):
        if not any(
            p.kind == "NetworkPolicy"
            and p.namespace == namespace.name
            and not ((p.data.get("spec") or {}).get("podSelector") or {})
            and "Ingress" in ((p.data.get("spec") or {}).get("policyTypes") or [])
            for p in objs
        ):
            yield namespace.finding(
                "privilege",
                "metadata.name",
                "no default-deny ingress NetworkPolicy (podSelector: {}) in the namespace",
            )
    # In a load test the service takes connections from Traefik's pods only.
    for pod in by_role.get("service", []) if load_test and traefik else []:
        for policy in _policies(objs, pod, "Ingress"):
            for i, rule in enumerate((policy.data.get("spec") or {}).get("ingress") or []):
                if not rule.get("from") or not all(_peer_selects(p, traefik) for p in rule["from"]):
                    yield policy.finding(
                        "privilege",
                        f"spec.ingress[{i}].from",
                        "lets others than Traefik's pods reach the service's pods: the load "
                        "would bypass the ingress and its in-flight limit",
                    )
    # Traefik dials the service, DNS and the API server (a private address), nothing else.
    service = by_role.get("service", [])
    for pod in traefik:
        policies = _policies(objs, pod, "Egress")
        if not policies:
            yield pod.finding("privilege", "metadata.name", "Traefik's egress is not limited")
        for policy in policies:
            for i, rule in enumerate((policy.data.get("spec") or {}).get("egress") or []):
                peers = rule.get("to") or [{}]
                if not all(_peer_selects(p, service) or _dns(p) or _private(p) for p in peers):
                    yield policy.finding(
                        "privilege",
                        f"spec.egress[{i}].to",
                        "lets Traefik dial more than the service's pods, DNS and the API "
                        "server's private address",
                    )
    # In a load test the service's traffic never reaches a real (perhaps paid) upstream.
    for pod in service if load_test else []:
        policies = _policies(objs, pod, "Egress")
        if not policies:
            message = "a load test, and no NetworkPolicy limits the service pods' egress"
            yield pod.finding("privilege", "metadata.name", message)
        for policy in policies:
            for i, rule in enumerate((policy.data.get("spec") or {}).get("egress") or []):
                peers = [str((p.get("ipBlock") or {}).get("cidr")) for p in rule.get("to") or []]
                why = next((f"ipBlock {c}" for c in peers if c.endswith("/0")), "")
                why = why if rule.get("to") else "a rule with no `to` (every destination)"
                if why:
                    message = f"{why} lets the load test's service pods reach 0.0.0.0/0: allow "
                    message += "DNS and the stub only"
                    yield policy.finding("privilege", f"spec.egress[{i}].to", message)
    # Redis answers and dials nothing.
    for pod in by_role.get("redis", []):
        policies = _policies(objs, pod, "Egress")
        open_rules = [
            (p, i)
            for p in policies
            for i, _ in enumerate((p.data.get("spec") or {}).get("egress") or [])
        ]
        if not policies:
            yield pod.finding("privilege", "metadata.name", "Redis' egress is not denied")
        for policy, i in open_rules:
            yield policy.finding(
                "privilege", f"spec.egress[{i}]", "Redis needs no egress; it dials nothing"
            )
    # No Role lets anyone read Pods (Traefik's reference RBAC wants it only for OpenTelemetry).
    for rbac in (o for o in objs if o.kind in {"Role", "ClusterRole"}):
        for i, rule in enumerate(rbac.data.get("rules") or []):
            if {"", "*"} & set(rule.get("apiGroups") or []) and {"pods", "*"} & set(
                rule.get("resources") or []
            ):
                yield rbac.finding(
                    "privilege", f"rules[{i}].resources", "grants access to pods: nothing needs it"
                )


def check(objs: list[Obj]) -> list[Finding]:
    """Every finding of this module for one render."""
    return [*budget(objs), *fences(objs)]
