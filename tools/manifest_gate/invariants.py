"""Project invariants over one render that show only once it runs: a 502 under load, /metrics on
the ingress, a load test that reaches the internet, pods that stay Pending. `check_with_app` also
gets the settings each service pod starts with (from `appcheck`, which asks the app). The load
test's other fences are asserted over its render in tests/manifests/test_fences.py."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from manifest_gate.model import Finding, Obj, Serving, pod_labels, pod_spec, role, selects
from manifest_gate.xrefs import Index

TRAEFIK_DEFAULT_IDLE = 90.0
"""Traefik's forwarding idleConnTimeout when no ServersTransport sets it (seconds)."""
GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
MATCHER = re.compile(r"([A-Za-z]+)\(\s*((?:`[^`]*`\s*,?\s*)*)\)")
PROFILE = {"cpu": 4.0, "memory": 8 * 2**30}
"""The load test's documented minikube profile (`minikube start -p weather-loadtest --cpus=4
--memory=8g`, docs/kubernetes.md; a test holds the two together)."""
ALLOWANCE = {"cpu": 1.2, "memory": 512 * 2**20}
"""What the cluster requests on that node: the control plane (etcd 100m, apiserver 250m,
controller-manager 200m, scheduler 100m), CoreDNS (100m, 70Mi), metrics-server (100m, 200Mi), the
CNI (calico-node 250m; kindnet 100m, 50Mi): 1.1 CPU and ~370Mi, rounded up."""
SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9}
Backend = tuple[str, dict[str, Any], Obj]
"""(field path of a route's service reference, the reference, the Service it names)"""


def check(objs: list[Obj]) -> list[Finding]:
    """The invariants that need only the rendered objects (a load test: a render with Locust)."""
    index, apps = Index(objs), [o for o in objs if role(o) == "service"]
    found = [*namespaced_rbac(objs), *metrics_not_routed(index, apps)]
    if any(role(o) == "locust" for o in objs):
        found += [*egress_fence(objs, apps), *budget(objs)]
    return found


def check_with_app(objs: list[Obj], serving: Serving) -> list[Finding]:
    """The invariants that need the settings each service pod starts with."""
    return list(keep_alive_outlasts_proxy(Index(objs), serving))


def duration(value: Any) -> float | None:
    """Seconds of a Go duration (`3s`, `1m30s`), or of a bare number (Traefik reads seconds)."""
    text = str(value).strip()
    text += "s" if re.fullmatch(r"\d+(?:\.\d+)?", text) else ""  # a bare number: seconds
    if not re.fullmatch(f"(?:{GO_DURATION.pattern})+", text):
        return None
    return sum(float(n) * UNITS[u] for n, u in GO_DURATION.findall(text))


def _routes(index: Index) -> Iterator[tuple[Obj, str, dict[str, Any], list[Backend]]]:
    """(IngressRoute, field path, route, the Services it sends to) of each Traefik route."""
    for obj in (o for o in index.objs if o.kind == "IngressRoute"):
        for r, route in enumerate(obj.value("spec.routes") or []):
            backends = []
            for s, ref in enumerate(route.get("services") or []):
                ns = ref.get("namespace") or obj.namespace
                service = index.get(ref.get("kind") or "Service", ns, str(ref.get("name")))
                if service is not None and service.kind == "Service":
                    backends.append((f"spec.routes[{r}].services[{s}]", ref, service))
            yield obj, f"spec.routes[{r}]", route, backends


def keep_alive_outlasts_proxy(index: Index, serving: Serving) -> Iterator[Finding]:
    """Traefik drops an idle connection to a pod before the pod's keep-alive timer does, else it
    sends a request on a connection the pod has just closed: a 502. The project sets the idle
    timeout in each route's ServersTransport (Traefik's static flag is not read)."""
    for route, _, _, backends in _routes(index):
        for field, ref, service in backends:
            pods = [float(p["keep_alive_timeout"]) for o, p in serving if selects(service, o)]
            where, raw = route, None
            source = "Traefik's default: the route names no ServersTransport"
            name = str(ref.get("serversTransport"))
            if transport := index.get("ServersTransport", route.namespace, name):
                where, field = transport, "spec.forwardingTimeouts.idleConnTimeout"
                raw, source = transport.value(field), f"ServersTransport {transport.name}"
            idle = TRAEFIK_DEFAULT_IDLE if raw is None else duration(raw)
            if idle is None:
                yield where.finding("runtime", field, f"{raw!r} is not a duration")
            elif pods and idle >= min(pods):
                message = (
                    f"Traefik keeps idle connections to {service.namespace}/{service.name} for "
                    f"{idle:g}s ({source}), but the service closes them after {min(pods):g}s "
                    "(WEATHER_API_KEEP_ALIVE_TIMEOUT): requests sent on a connection the pod "
                    "just closed fail with 502; keep Traefik's idleConnTimeout below it"
                )
                yield where.finding("runtime", field, message)


def routes_path(rule: str, path: str) -> bool:
    """Whether a Traefik v3 rule matches some request for `path`: each path matcher is decided
    for it and every other one (Host, Header, Method...) taken as met, which leaves `&&`, `||`,
    `!` and parentheses, with Python's precedence as `and`, `or`, `not`."""
    tests: dict[str, Callable[[str], bool]] = {"Path": path.__eq__, "PathPrefix": path.startswith}
    tests["PathRegexp"] = lambda pattern: re.search(pattern, path) is not None  # unanchored in Go

    def verdict(match: re.Match[str]) -> str:
        test, args = tests.get(match.group(1)), re.findall(r"`([^`]*)`", match.group(2))
        return f" {test is None or any(map(test, args))} "

    expression = MATCHER.sub(verdict, rule)
    expression = expression.replace("&&", " and ").replace("||", " or ").replace("!", " not ")
    if not re.fullmatch(r"(?:\s|True|False|and|or|not|\(|\))*", expression):
        raise ValueError(f"cannot read the rule {rule!r}")
    # Only True, False, and, or, not and parentheses are left (checked just above).
    return bool(eval(expression, {"__builtins__": {}}))  # noqa: S307


def metrics_not_routed(index: Index, apps: list[Obj]) -> Iterator[Finding]:
    """No IngressRoute publishes the service's /metrics (route names, cache, upstream figures)."""
    for route, field, rule, backends in _routes(index):
        if not any(selects(service, app) for _, _, service in backends for app in apps):
            continue
        try:
            if routes_path(str(rule.get("match", "")), "/metrics"):
                message = "routes /metrics to the service: route names, cache and upstream "
                message += "figures for anyone who reaches the ingress; "
                message += "add && !PathPrefix(`/metrics`)"
                yield route.finding("runtime", f"{field}.match", message)
        except (ValueError, SyntaxError, re.error) as exc:
            yield route.finding("runtime", f"{field}.match", f"cannot evaluate: {exc}")


def namespaced_rbac(objs: list[Obj]) -> Iterator[Finding]:
    """No cluster-scoped RBAC: a second copy of an overlay would rebind or delete it.
    (A ClusterRole that reads every Secret is checkov's CKV2_K8S_5.)"""
    for obj in (o for o in objs if o.kind in {"ClusterRole", "ClusterRoleBinding"}):
        message = f"{obj.kind} is cluster-scoped: a second copy of this overlay in another "
        message += "namespace would rebind it, and deleting either copy removes it for both; "
        yield obj.finding("runtime", "metadata.name", message + "use a Role and RoleBinding")


def egress_fence(objs: list[Obj], apps: list[Obj]) -> Iterator[Finding]:
    """In a load test the service's pods have an egress policy and no rule of it reaches beyond
    the cluster: the test's traffic never reaches a real (perhaps paid) upstream."""
    for app in apps:
        labels = pod_labels(app).items()
        policies = [
            p
            for p in objs
            if p.kind == "NetworkPolicy"
            and p.namespace == app.namespace
            and "Egress" in (p.value("spec.policyTypes") or [])
            and (p.value("spec.podSelector.matchLabels") or {}).items() <= labels
        ]
        if not policies:
            message = "a load test, and no NetworkPolicy limits the service pods' egress"
            yield app.finding("runtime", "metadata.name", message)
        for policy in policies:
            for i, rule in enumerate(policy.value("spec.egress") or []):
                cidrs = [str((p.get("ipBlock") or {}).get("cidr")) for p in rule.get("to") or []]
                why = next((f"ipBlock {c}" for c in cidrs if c.endswith("/0")), "")
                if why or not rule.get("to"):
                    message = f"{why or 'a rule with no `to`'} lets the load test's service pods "
                    message += "reach 0.0.0.0/0: allow DNS and the stub only"
                    yield policy.finding("runtime", f"spec.egress[{i}].to", message)


def _requests(pod: dict[str, Any], resource: str) -> float:
    """A pod's effective request: its containers together, or its largest init container."""

    def ask(container: dict[str, Any]) -> float:
        text = str(((container.get("resources") or {}).get("requests") or {}).get(resource, 0))
        suffix = next((s for s in SUFFIXES if text.endswith(s)), "")
        return float(text.removesuffix(suffix)) * SUFFIXES.get(suffix, 1.0)

    together = sum(map(ask, pod.get("containers") or []))
    return max([together, *map(ask, pod.get("initContainers") or [])])


def budget(objs: list[Obj]) -> Iterator[Finding]:
    """A load test's pods at the HPA's maxReplicas (Jobs at `parallelism`), with ALLOWANCE, fit
    PROFILE: else the last pods stay Pending and the run proves less than it says."""
    hpas = {o.value("spec.scaleTargetRef.name"): o for o in objs if o.kind.endswith("Autoscaler")}
    scaled: list[tuple[int, str, dict[str, Any]]] = []
    for obj in objs:
        if located := pod_spec(obj):
            hpa = hpas.get(obj.name) if obj.kind == "Deployment" else None
            own = obj.value("spec.parallelism" if obj.kind == "Job" else "spec.replicas")
            count = int((hpa.value("spec.maxReplicas") if hpa else own) or 1)
            scaled.append((count, obj.name, located[1]))
    parts = ", ".join(f"{count} x {name}" for count, name, _ in scaled)
    for resource, room in PROFILE.items():
        used = sum(count * _requests(pod, resource) for count, _, pod in scaled)
        if used + ALLOWANCE[resource] > room:
            show = "{:.2f} CPU".format if resource == "cpu" else lambda v: f"{v / 2**20:.0f}Mi"
            message = (
                f"{resource} requests at full scale ({parts}) add up to {show(used)}; with "
                f"{show(ALLOWANCE[resource])} for kube-system, metrics-server and the CNI that "
                f"exceeds the documented minikube profile's {show(room)}: pods would stay Pending"
            )
            where = next(iter(hpas.values()), objs[0])
            yield where.finding("budget", "spec.maxReplicas" if hpas else "metadata.name", message)
