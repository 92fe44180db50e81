"""What only a running cluster would show: proxy timeouts, RBAC scope, the egress fence, routes.

Each check reads the rendered objects the way the component at run time reads them: Traefik
its ServersTransports and static flags, the NetworkPolicy controller the policies that select a
pod, Redis its `--maxmemory`. The checks that need the app's own settings (keep-alive timeout,
cache) get them from `appcheck`, which asks the app.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from manifest_gate.model import Finding, Obj, containers, pod_labels, pod_spec
from manifest_gate.xrefs import Index, _matches

if TYPE_CHECKING:
    from manifest_gate.appcheck import AppContainer

TRAEFIK_DEFAULT_IDLE = 90.0
"""Traefik's forwarding idleConnTimeout when nothing sets it (seconds)."""
METRICS_PATH = "/metrics"
"""The app's Prometheus route (src/weather_api/routes/metrics.py)."""
HEADROOM = 1.5
"""Redis' memory limit must hold this many times maxmemory, plus its memory-backed volumes."""
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]i?|[kmgt]b?|)$", re.IGNORECASE)


def duration(value: Any) -> float | None:
    """Seconds of a Go duration (`3s`, `1m30s`), or of a bare number (Traefik reads seconds)."""
    text = str(value).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    parts = DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * UNITS[u] for n, u in parts)


def memory_bytes(value: Any) -> float | None:
    """Bytes of a Kubernetes quantity (`256Mi`) or a Redis size (`96mb`, `100m`)."""
    match = QUANTITY.match(str(value).strip())
    if not match:
        return None
    number, unit = float(match.group(1)), match.group(2)
    powers = {"k": 1, "m": 2, "g": 3, "t": 4}
    if not unit:
        return number
    if unit.lower().endswith("i") or unit.lower().endswith("b"):  # 256Mi, and Redis' 96mb
        return float(number * 1024 ** powers[unit[0].lower()])
    return float(number * 1000 ** powers[unit[0].lower()])


def _image(container: dict[str, Any]) -> str:
    return str(container.get("image", "")).split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]


def _traefik_args(objs: list[Obj], namespace: str) -> Iterator[tuple[Obj, str, dict[str, str]]]:
    """(workload, container path, {lower-case flag: value}) of every Traefik in the namespace."""
    for obj in objs:
        located = pod_spec(obj)
        if located is None or obj.namespace != namespace:
            continue
        for cpath, container in containers(*located):
            if _image(container) != "traefik":
                continue
            flags = {}
            for word in container.get("args") or []:
                name, _, value = str(word).partition("=")
                flags[name.lower()] = value or "true"
            yield obj, cpath, flags


def _serving(
    service: Obj, serving: list[tuple[AppContainer, dict[str, Any]]]
) -> list[tuple[AppContainer, dict[str, Any]]]:
    """The service containers (with their settings) that a Service sends its traffic to."""
    selector = {
        str(k): str(v) for k, v in ((service.data.get("spec") or {}).get("selector") or {}).items()
    }
    return [
        (e, s)
        for e, s in serving
        if e.obj.namespace == service.namespace and _matches(selector, pod_labels(e.obj))
    ]


def proxy_idle_timeouts(
    objs: list[Obj], serving: list[tuple[AppContainer, dict[str, Any]]]
) -> Iterator[tuple[Obj, Finding]]:
    """Traefik must drop an idle connection to a pod before the pod's keep-alive timer does.

    Otherwise Traefik sends a request on a connection the pod has just closed (a 502, or a retry
    that costs latency): the classic reverse-proxy/uvicorn pairing bug.
    """
    index = Index(objs)
    for route in objs:
        if route.kind != "IngressRoute" or not route.api_version.startswith("traefik."):
            continue
        for r, rule in enumerate((route.data.get("spec") or {}).get("routes") or []):
            for s, svc in enumerate(rule.get("services") or []):
                if (svc.get("kind") or "Service") != "Service":
                    continue
                ns = svc.get("namespace") or route.namespace
                service = index.get("Service", ns, str(svc.get("name")))
                if service is None:
                    continue  # xrefs reports it
                pods = _serving(service, serving)
                if not pods:
                    continue
                keep_alive = min(float(s["keep_alive_timeout"]) for _, s in pods)
                transport_name = svc.get("serversTransport")
                if transport_name:
                    transport = index.get("ServersTransport", route.namespace, str(transport_name))
                    if transport is None:
                        yield (
                            route,
                            route.finding(
                                "xref",
                                f"spec.routes[{r}].services[{s}].serversTransport",
                                f"ServersTransport {route.namespace}/{transport_name} is not "
                                "in this render",
                            ),
                        )
                        continue
                    raw = ((transport.data.get("spec") or {}).get("forwardingTimeouts") or {}).get(
                        "idleConnTimeout"
                    )
                    where: Obj = transport
                    field = "spec.forwardingTimeouts.idleConnTimeout"
                    source = f"ServersTransport {transport.name}"
                else:
                    raw, where, field, source = None, route, f"spec.routes[{r}].services[{s}]", ""
                    for obj, cpath, flags in _traefik_args(objs, ns):
                        raw = flags.get("--serverstransport.forwardingtimeouts.idleconntimeout")
                        where, field = obj, f"{cpath}.args"
                        source = "Traefik's --serversTransport.forwardingTimeouts.idleConnTimeout"
                idle = TRAEFIK_DEFAULT_IDLE if raw is None else duration(raw)
                if raw is None:
                    source = "Traefik's default (no ServersTransport or static flag sets it)"
                if idle is None:
                    yield where, where.finding("runtime", field, f"{raw!r} is not a duration")
                elif not idle < keep_alive:
                    yield (
                        where,
                        where.finding(
                            "runtime",
                            field,
                            f"Traefik keeps idle connections to {service.namespace}/{service.name} "
                            f"for {idle:g}s ({source}), but the service closes them after "
                            f"{keep_alive:g}s (WEATHER_API_KEEP_ALIVE_TIMEOUT): requests sent on a "
                            "connection the pod just closed fail with 502; keep Traefik's "
                            "idleConnTimeout below the service's keep-alive timeout",
                        ),
                    )


def idle_redis(
    objs: list[Obj], serving: list[tuple[AppContainer, dict[str, Any]]]
) -> Iterator[tuple[Obj, Finding]]:
    """A Redis in the render is used: some service pod names it and has its cache on."""
    for obj in objs:
        located = pod_spec(obj)
        if located is None or not any(_image(c) == "redis" for _, c in containers(*located)):
            continue
        services = [
            s.name
            for s in objs
            if s.kind == "Service"
            and s.namespace == obj.namespace
            and _matches(
                {
                    str(k): str(v)
                    for k, v in ((s.data.get("spec") or {}).get("selector") or {}).items()
                },
                pod_labels(obj),
            )
        ]
        users = [
            (e, st)
            for e, st in serving
            if e.obj.namespace == obj.namespace
            and any(
                re.match(rf"^rediss?://{re.escape(n)}(?:[.:/]|$)", st["cache_url"])
                for n in services
            )
        ]
        if not users:
            yield (
                obj,
                obj.finding(
                    "runtime",
                    "metadata.name",
                    "no service pod's WEATHER_API_CACHE_URL names this Redis "
                    f"({services or 'no Service'}): it runs unused",
                ),
            )
        elif not any(float(st["cache_ttl"]) > 0 for _, st in users):
            yield (
                obj,
                obj.finding(
                    "runtime",
                    "metadata.name",
                    "the service pods that name this Redis run with WEATHER_API_CACHE_TTL=0 (no "
                    "cache), so it stays idle: turn the cache on or leave Redis out",
                ),
            )


def redis_headroom(objs: list[Obj]) -> Iterator[Finding]:
    """Redis' memory limit leaves room above `--maxmemory` for its overhead and memory volumes."""
    for obj in objs:
        located = pod_spec(obj)
        if located is None:
            continue
        spec_path, spec = located
        memory_volumes = {
            str(v.get("name")): memory_bytes((v.get("emptyDir") or {}).get("sizeLimit", 0)) or 0.0
            for v in spec.get("volumes") or []
            if (v.get("emptyDir") or {}).get("medium") == "Memory"
        }
        for cpath, container in containers(spec_path, spec):
            if _image(container) != "redis":
                continue
            words = [
                str(w) for w in [*(container.get("command") or []), *(container.get("args") or [])]
            ]
            if "--maxmemory" not in words or words.index("--maxmemory") + 1 >= len(words):
                continue
            maxmemory = memory_bytes(words[words.index("--maxmemory") + 1])
            limit = memory_bytes(
                ((container.get("resources") or {}).get("limits") or {}).get("memory", "")
            )
            if maxmemory is None:
                continue
            mounted = sum(
                memory_volumes.get(str(m.get("name")), 0.0)
                for m in container.get("volumeMounts") or []
            )
            needed = maxmemory * HEADROOM + mounted
            if limit is None or limit < needed:
                mib = 1024 * 1024
                yield obj.finding(
                    "runtime",
                    f"{cpath}.resources.limits.memory",
                    f"{'no limit' if limit is None else f'{limit / mib:g} MiB'}, but maxmemory "
                    f"{maxmemory / mib:g} MiB x {HEADROOM} (Redis' overhead above its data) + "
                    f"{mounted / mib:g} MiB of memory-backed volumes = {needed / mib:g} MiB: the "
                    "kernel would kill Redis before it evicts",
                )


def app_workloads(objs: list[Obj]) -> list[Obj]:
    """Workloads that run the service itself (the weather-api image, not its `stub` command)."""
    found = []
    for obj in objs:
        located = pod_spec(obj)
        if located is None:
            continue
        for _, container in containers(*located):
            args = [
                str(a) for a in [*(container.get("command") or []), *(container.get("args") or [])]
            ]
            if _image(container) == "weather-api" and "stub" not in args[:2]:
                found.append(obj)
                break
    return found


def _reads_secrets(rule: dict[str, Any]) -> bool:
    groups = rule.get("apiGroups") or []
    resources = rule.get("resources") or []
    verbs = rule.get("verbs") or []
    return (
        ("" in groups or "*" in groups)
        and ("secrets" in resources or "*" in resources)
        and bool({"get", "list", "watch", "*"} & set(verbs))
    )


def rbac_scope(objs: list[Obj]) -> Iterator[Finding]:
    """No cluster-scoped RBAC: one copy per namespace must not share, rebind or delete another's.

    And a Traefik that has only a Role must not look up cluster-scoped kinds (Nodes,
    IngressClasses): every such watch would fail with 403.
    """
    for obj in objs:
        if obj.kind == "ClusterRole":
            for i, rule in enumerate(obj.data.get("rules") or []):
                if _reads_secrets(rule):
                    yield obj.finding(
                        "runtime",
                        f"rules[{i}].resources",
                        "grants read of Secrets in every namespace: use a Role in the "
                        "namespace the controller watches",
                    )
        if obj.kind in {"ClusterRole", "ClusterRoleBinding"}:
            yield obj.finding(
                "runtime",
                "metadata.name",
                f"{obj.kind} is cluster-scoped: a second copy of this overlay in another namespace "
                "would rebind it, and deleting either copy removes it for both; use a Role and "
                "RoleBinding in the namespace",
            )
    cluster_bound = {
        (str(s.get("namespace") or ""), str(s.get("name")))
        for o in objs
        if o.kind == "ClusterRoleBinding"
        for s in o.data.get("subjects") or []
        if s.get("kind") == "ServiceAccount"
    }
    for obj in objs:
        located = pod_spec(obj)
        if located is None:
            continue
        account = str(located[1].get("serviceAccountName") or "default")
        for wl, cpath, flags in _traefik_args([obj], obj.namespace):
            if "--providers.kubernetescrd" not in flags and not any(
                f.startswith("--providers.kubernetescrd.") for f in flags
            ):
                continue
            if (obj.namespace, account) in cluster_bound:
                continue
            if (
                flags.get("--providers.kubernetescrd.disableclusterscoperesources", "false")
                != "true"
            ):
                yield wl.finding(
                    "runtime",
                    f"{cpath}.args",
                    "Traefik has no cluster-wide role, so it needs "
                    "--providers.kubernetescrd.disableClusterScopeResources=true: otherwise it "
                    "watches Nodes and fails with 403",
                )
            if not flags.get("--providers.kubernetescrd.namespaces"):
                yield wl.finding(
                    "runtime",
                    f"{cpath}.args",
                    "Traefik has only a Role in its namespace, so it must watch that namespace "
                    "alone: --providers.kubernetescrd.namespaces=$(POD_NAMESPACE)",
                )


def _open_peer(rule: dict[str, Any]) -> str:
    """Why an egress rule lets a pod reach any address on the internet ('' when it does not)."""
    peers = rule.get("to")
    if not peers:
        return "a rule with no `to` (every destination)"
    for peer in peers:
        cidr = (peer.get("ipBlock") or {}).get("cidr")
        if cidr is None:
            continue
        try:
            network = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            continue
        if network.prefixlen == 0:
            return f"ipBlock {cidr}"
    return ""


def egress_fence(objs: list[Obj], app_workloads: list[Obj]) -> Iterator[Finding]:
    """In a load test, the service's pods have egress policies and none reaches 0.0.0.0/0.

    A render is a load test when it runs a Locust master: its traffic must never reach a real
    (perhaps paid) upstream, whatever the service's settings say.
    """
    from manifest_gate.locustrefs import is_load_test

    if not is_load_test(objs):
        return
    for workload in app_workloads:
        labels = pod_labels(workload)
        policies = [
            p
            for p in objs
            if p.kind == "NetworkPolicy"
            and p.namespace == workload.namespace
            and "Egress" in ((p.data.get("spec") or {}).get("policyTypes") or [])
            and _selects(p, labels)
        ]
        if not policies:
            yield workload.finding(
                "runtime",
                "metadata.name",
                "a load test, and no NetworkPolicy limits the service pods' egress: a "
                "misconfigured pod could send the test's traffic to a real upstream",
            )
            continue
        for policy in policies:
            for i, rule in enumerate((policy.data.get("spec") or {}).get("egress") or []):
                why = _open_peer(rule)
                if why:
                    yield policy.finding(
                        "runtime",
                        f"spec.egress[{i}].to",
                        f"{why} lets the load test's service pods reach 0.0.0.0/0: allow DNS and "
                        "the in-cluster stub only",
                    )


def _selects(policy: Obj, labels: dict[str, str]) -> bool:
    selector = (policy.data.get("spec") or {}).get("podSelector") or {}
    match = {str(k): str(v) for k, v in (selector.get("matchLabels") or {}).items()}
    if selector.get("matchExpressions"):
        return True  # not evaluated here: assume it selects
    return all(labels.get(k) == v for k, v in match.items())


class _Rule:
    """A tiny evaluator of Traefik v3 rule syntax: Host, PathPrefix, Path, PathRegexp, !, &&, ||."""

    TOKEN = re.compile(r"\s*(\(|\)|!|&&|\|\||[A-Za-z]+\(\s*`[^`]*`(?:\s*,\s*`[^`]*`)*\s*\))")

    def __init__(self, text: str) -> None:
        self.tokens: list[str] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            match = self.TOKEN.match(text, pos)
            if not match:
                raise ValueError(f"cannot read the rule at {text[pos:]!r}")
            self.tokens.append(match.group(1))
            pos = match.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        self.at = 0

    def evaluate(self, host: str, path: str) -> bool:
        self.at, self.host, self.path = 0, host, path
        value = self._or()
        if self.at != len(self.tokens):
            raise ValueError("unbalanced rule")
        return value

    def _or(self) -> bool:
        value = self._and()
        while self.at < len(self.tokens) and self.tokens[self.at] == "||":
            self.at += 1
            value = self._and() or value
        return value

    def _and(self) -> bool:
        value = self._not()
        while self.at < len(self.tokens) and self.tokens[self.at] == "&&":
            self.at += 1
            value = self._not() and value
        return value

    def _not(self) -> bool:
        if self.tokens[self.at] == "!":
            self.at += 1
            return not self._not()
        if self.tokens[self.at] == "(":
            self.at += 1
            value = self._or()
            self.at += 1  # ")"
            return value
        token = self.tokens[self.at]
        self.at += 1
        name = token.split("(", 1)[0]
        args = re.findall(r"`([^`]*)`", token)
        if name == "Host":
            return self.host.lower() in (a.lower() for a in args)
        if name == "PathPrefix":
            return any(self.path.startswith(a) for a in args)
        if name == "Path":
            return self.path in args
        if name == "PathRegexp":
            return any(re.match(a, self.path) for a in args)
        return True  # Header, Method, Query...: a request can always carry them


def metrics_unrouted(objs: list[Obj], app_services: set[tuple[str, str]]) -> Iterator[Finding]:
    """No IngressRoute publishes the service's /metrics (route names, cache, upstream figures)."""
    for route in objs:
        if route.kind != "IngressRoute" or not route.api_version.startswith("traefik."):
            continue
        for r, rule in enumerate((route.data.get("spec") or {}).get("routes") or []):
            targets = {
                (str(s.get("namespace") or route.namespace), str(s.get("name")))
                for s in rule.get("services") or []
            }
            if not targets & app_services:
                continue
            text = str(rule.get("match", ""))
            hosts = re.findall(r"Host\(\s*`([^`]+)`", text) or ["any.host"]
            try:
                parsed = _Rule(text)
                routed = any(parsed.evaluate(h, METRICS_PATH) for h in hosts)
            except (ValueError, IndexError) as exc:
                yield route.finding("runtime", f"spec.routes[{r}].match", f"cannot evaluate: {exc}")
                continue
            if routed:
                yield route.finding(
                    "runtime",
                    f"spec.routes[{r}].match",
                    f"routes {METRICS_PATH} to the service: route names, cache and upstream "
                    "figures for anyone who reaches the ingress; add "
                    f"&& !PathPrefix(`{METRICS_PATH}`)",
                )
