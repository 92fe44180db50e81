"""Project invariants over one render: what no schema or policy tool knows about this service,
and what would only show once it runs (a 502 under load, a fence that lets traffic out).

`check` needs only the render; `check_with_app` also gets, for each pod that runs the service,
the settings it starts with (from `appcheck`, which asks the app).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any

from manifest_gate.locustrefs import is_load_test
from manifest_gate.model import Finding, Obj, containers, image_name, pod_labels, pod_spec, selects

Serving = list[tuple[Obj, dict[str, Any]]]
"""(workload, the settings `weather-api serve` starts with in it) for each service container."""

TRAEFIK_DEFAULT_IDLE = 90.0
"""Traefik's forwarding idleConnTimeout when nothing sets it (seconds)."""
METRICS_PATH = "/metrics"
HEADROOM = 1.5
"""Redis' memory limit must hold this many times maxmemory, plus its memory-backed volumes."""
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
MATCHER = re.compile(r"([A-Za-z]+)\(\s*((?:`[^`]*`\s*,?\s*)*)\)")


def check(objs: list[Obj]) -> list[Finding]:
    """The invariants that need only the rendered objects."""
    apps = app_workloads(objs)
    return [
        *namespaced_rbac(objs),
        *egress_fence(objs, apps),
        *metrics_not_routed(objs, apps),
        *redis_headroom(objs),
    ]


def check_with_app(objs: list[Obj], serving: Serving) -> list[Finding]:
    """The invariants that need the settings each service pod starts with."""
    return [*keep_alive_outlasts_proxy(objs, serving), *redis_in_use(objs, serving)]


def app_workloads(objs: list[Obj]) -> list[Obj]:
    """Workloads that run the service itself (the weather-api image, not its `stub` command)."""
    return [
        obj
        for obj in objs
        if (located := pod_spec(obj))
        and any(
            image_name(c) == "weather-api" and "stub" not in _argv(c)[:2]
            for _, c in containers(*located)
        )
    ]


def _argv(container: dict[str, Any]) -> list[str]:
    return [str(w) for w in [*(container.get("command") or []), *(container.get("args") or [])]]


def _containers_of(objs: list[Obj], image: str) -> Iterator[tuple[Obj, str, dict[str, Any]]]:
    for obj in objs:
        if (located := pod_spec(obj)) is not None:
            for cpath, container in containers(*located):
                if image_name(container) == image:
                    yield obj, cpath, container


def _flags(container: dict[str, Any]) -> dict[str, str]:
    """`--name=value` arguments as {lower-case name: value} (`true` for a bare flag)."""
    pairs = (str(word).partition("=") for word in container.get("args") or [])
    return {name.lower(): value or "true" for name, _, value in pairs}


def duration(value: Any) -> float | None:
    """Seconds of a Go duration (`3s`, `1m30s`), or of a bare number (Traefik reads seconds)."""
    text = str(value).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * UNITS[u] for n, u in parts)


def memory_bytes(value: Any) -> float | None:
    """Bytes of a Kubernetes quantity (`256Mi`, `1G`) or a Redis size (`96mb`)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i?|[kmgt]b?|)", str(value).strip(), re.I)
    if not match:
        return None
    number, unit = float(match.group(1)), match.group(2).lower()
    if not unit:
        return number
    base = 1024 if unit.endswith(("i", "b")) else 1000
    return number * base ** ("kmgt".index(unit[0]) + 1)


def _routes(objs: list[Obj]) -> Iterator[tuple[Obj, int, dict[str, Any]]]:
    for obj in objs:
        if obj.kind == "IngressRoute" and obj.api_version.startswith("traefik."):
            for r, route in enumerate((obj.data.get("spec") or {}).get("routes") or []):
                yield obj, r, route


def _service(objs: list[Obj], namespace: str, ref: dict[str, Any]) -> Obj | None:
    if (ref.get("kind") or "Service") != "Service":
        return None
    key = ("Service", ref.get("namespace") or namespace, str(ref.get("name")))
    return next((o for o in objs if (o.kind, o.namespace, o.name) == key), None)


def keep_alive_outlasts_proxy(objs: list[Obj], serving: Serving) -> Iterator[Finding]:
    """Traefik drops an idle connection to a pod before the pod's keep-alive timer does;
    otherwise it sends a request on a connection the pod has just closed: a 502."""
    for route, r, rule in _routes(objs):
        for s, ref in enumerate(rule.get("services") or []):
            service = _service(objs, route.namespace, ref)
            pods = [settings for obj, settings in serving if service and selects(service, obj)]
            if service is None or not pods:
                continue  # xrefs reports a missing Service
            keep_alive = min(float(p["keep_alive_timeout"]) for p in pods)
            where, field = route, f"spec.routes[{r}].services[{s}]"
            raw, source = None, "Traefik's default (no ServersTransport or static flag sets it)"
            if ref.get("serversTransport"):
                transport = next(
                    (o for o in objs if o.kind == "ServersTransport" and o.namespace ==
                     route.namespace and o.name == ref["serversTransport"]),
                    None,
                )  # fmt: skip
                if transport is None:
                    yield route.finding(
                        "xref", f"{field}.serversTransport",
                        f"ServersTransport {route.namespace}/{ref['serversTransport']} is not "
                        "in this render",
                    )  # fmt: skip
                    continue
                spec = transport.data.get("spec") or {}
                raw = (spec.get("forwardingTimeouts") or {}).get("idleConnTimeout")
                where, field = transport, "spec.forwardingTimeouts.idleConnTimeout"
                source = f"ServersTransport {transport.name}"
            else:
                for obj, cpath, container in _containers_of(objs, "traefik"):
                    flag = "--serverstransport.forwardingtimeouts.idleconntimeout"
                    if obj.namespace == service.namespace and flag in _flags(container):
                        raw, where, field = _flags(container)[flag], obj, f"{cpath}.args"
                        source = f"Traefik's {flag}"
            idle = TRAEFIK_DEFAULT_IDLE if raw is None else duration(raw)
            if idle is None:
                yield where.finding("runtime", field, f"{raw!r} is not a duration")
            elif idle >= keep_alive:
                yield where.finding(
                    "runtime", field,
                    f"Traefik keeps idle connections to {service.namespace}/{service.name} for "
                    f"{idle:g}s ({source}), but the service closes them after {keep_alive:g}s "
                    "(WEATHER_API_KEEP_ALIVE_TIMEOUT): requests sent on a connection the pod "
                    "just closed fail with 502; keep Traefik's idleConnTimeout below it",
                )  # fmt: skip


def routes_path(rule: str, path: str) -> bool:
    """Whether some request for `path` (on a host the rule names) matches a Traefik v3 rule.

    Each matcher becomes True or False for that request (Header, Method, Query...: True, a
    request can always carry them); what is left is `&&`, `||`, `!` and parentheses, which
    have Python's precedence as `and`, `or`, `not`.
    """
    for host in re.findall(r"Host\(\s*`([^`]+)`", rule) or ["any.host"]:

        def verdict(match: re.Match[str], host: str = host) -> str:
            args = re.findall(r"`([^`]*)`", match.group(2))
            known = {
                "Host": host.lower() in (a.lower() for a in args),
                "Path": path in args,
                "PathPrefix": any(path.startswith(a) for a in args),
                "PathRegexp": any(re.match(a, path) for a in args),
            }
            return f" {known.get(match.group(1), True)} "

        expression = MATCHER.sub(verdict, rule)
        expression = expression.replace("&&", " and ").replace("||", " or ").replace("!", " not ")
        if not re.fullmatch(r"(?:\s|True|False|and|or|not|\(|\))*", expression):
            raise ValueError(f"cannot read the rule {rule!r}")
        # Only True, False, and, or, not and parentheses are left (checked just above).
        if eval(expression, {"__builtins__": {}}):  # noqa: S307
            return True
    return False


def metrics_not_routed(objs: list[Obj], apps: list[Obj]) -> Iterator[Finding]:
    """No IngressRoute publishes the service's /metrics (route names, cache, upstream figures)."""
    for route, r, rule in _routes(objs):
        services = [_service(objs, route.namespace, ref) for ref in rule.get("services") or []]
        if not any(s and selects(s, app) for s in services for app in apps):
            continue
        field = f"spec.routes[{r}].match"
        try:
            routed = routes_path(str(rule.get("match", "")), METRICS_PATH)
        except (ValueError, SyntaxError) as exc:
            yield route.finding("runtime", field, f"cannot evaluate: {exc}")
            continue
        if routed:
            yield route.finding(
                "runtime", field,
                f"routes {METRICS_PATH} to the service: route names, cache and upstream figures "
                f"for anyone who reaches the ingress; add && !PathPrefix(`{METRICS_PATH}`)",
            )  # fmt: skip


def egress_fence(objs: list[Obj], apps: list[Obj]) -> Iterator[Finding]:
    """In a load test (a render with a Locust master) the service's pods have an egress policy,
    and none lets them reach 0.0.0.0/0: the test's traffic never reaches a real upstream."""
    if not is_load_test(objs):
        return
    for app in apps:
        policies = [
            p
            for p in objs
            if p.kind == "NetworkPolicy"
            and p.namespace == app.namespace
            and "Egress" in ((p.data.get("spec") or {}).get("policyTypes") or [])
            and _policy_selects(p, pod_labels(app))
        ]
        if not policies:
            yield app.finding(
                "runtime", "metadata.name",
                "a load test, and no NetworkPolicy limits the service pods' egress: a "
                "misconfigured pod could send the test's traffic to a real upstream",
            )  # fmt: skip
        for policy in policies:
            for i, rule in enumerate((policy.data.get("spec") or {}).get("egress") or []):
                cidrs = [str((p.get("ipBlock") or {}).get("cidr")) for p in rule.get("to") or []]
                open_to = [c for c in cidrs if _prefix(c) == 0]
                why = f"ipBlock {open_to[0]}" if open_to else ""
                why = why if rule.get("to") else "a rule with no `to` (every destination)"
                if why:
                    yield policy.finding(
                        "runtime", f"spec.egress[{i}].to",
                        f"{why} lets the load test's service pods reach 0.0.0.0/0: allow DNS "
                        "and the in-cluster stub only",
                    )  # fmt: skip


def _prefix(cidr: str) -> int | None:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen
    except ValueError:
        return None


def _policy_selects(policy: Obj, labels: dict[str, str]) -> bool:
    selector = (policy.data.get("spec") or {}).get("podSelector") or {}
    if selector.get("matchExpressions"):
        return True  # not evaluated here: assume it selects
    return all(labels.get(str(k)) == str(v) for k, v in (selector.get("matchLabels") or {}).items())


def namespaced_rbac(objs: list[Obj]) -> Iterator[Finding]:
    """No cluster-scoped RBAC (a second copy of an overlay would rebind or delete it), and a
    Traefik with only a Role looks up no cluster-scoped kinds and watches its namespace alone."""
    for obj in objs:
        if obj.kind == "ClusterRole":
            for i, rule in enumerate(obj.data.get("rules") or []):
                if (
                    {"", "*"} & set(rule.get("apiGroups") or [])
                    and {"secrets", "*"} & set(rule.get("resources") or [])
                    and {"get", "list", "watch", "*"} & set(rule.get("verbs") or [])
                ):
                    yield obj.finding(
                        "runtime", f"rules[{i}].resources",
                        "grants read of Secrets in every namespace: use a Role in the "
                        "namespace the controller watches",
                    )  # fmt: skip
        if obj.kind in {"ClusterRole", "ClusterRoleBinding"}:
            yield obj.finding(
                "runtime", "metadata.name",
                f"{obj.kind} is cluster-scoped: a second copy of this overlay in another "
                "namespace would rebind it, and deleting either copy removes it for both; use a "
                "Role and RoleBinding in the namespace",
            )  # fmt: skip
    cluster_bound = {
        (str(s.get("namespace") or ""), str(s.get("name")))
        for o in objs
        if o.kind == "ClusterRoleBinding"
        for s in o.data.get("subjects") or []
    }
    for obj, cpath, container in _containers_of(objs, "traefik"):
        flags = _flags(container)
        account = str((pod_spec(obj) or ("", {}))[1].get("serviceAccountName") or "default")
        if (obj.namespace, account) in cluster_bound or not any(
            f.startswith("--providers.kubernetescrd") for f in flags
        ):
            continue
        if flags.get("--providers.kubernetescrd.disableclusterscoperesources") != "true":
            yield obj.finding(
                "runtime", f"{cpath}.args",
                "Traefik has no cluster-wide role, so it needs "
                "--providers.kubernetescrd.disableClusterScopeResources=true: otherwise it "
                "watches Nodes and fails with 403",
            )  # fmt: skip
        if not flags.get("--providers.kubernetescrd.namespaces"):
            yield obj.finding(
                "runtime", f"{cpath}.args",
                "Traefik has only a Role in its namespace, so it must watch that namespace "
                "alone: --providers.kubernetescrd.namespaces=$(POD_NAMESPACE)",
            )  # fmt: skip


def redis_headroom(objs: list[Obj]) -> Iterator[Finding]:
    """Redis' memory limit holds `--maxmemory` x HEADROOM plus its memory-backed volumes, so
    the kernel does not kill it before it evicts."""
    for obj, cpath, container in _containers_of(objs, "redis"):
        words = _argv(container)
        at = words.index("--maxmemory") + 1 if "--maxmemory" in words else len(words)
        maxmemory = memory_bytes(words[at]) if at < len(words) else None
        if maxmemory is None:
            continue
        volumes = {
            v.get("name"): memory_bytes(v["emptyDir"].get("sizeLimit", 0)) or 0.0
            for v in (pod_spec(obj) or ("", {}))[1].get("volumes") or []
            if (v.get("emptyDir") or {}).get("medium") == "Memory"
        }
        mounted = sum(volumes.get(m.get("name"), 0.0) for m in container.get("volumeMounts") or [])
        limit = memory_bytes(((container.get("resources") or {}).get("limits") or {}).get("memory"))
        needed, mib = maxmemory * HEADROOM + mounted, 1024 * 1024
        if limit is None or limit < needed:
            yield obj.finding(
                "runtime", f"{cpath}.resources.limits.memory",
                f"{'no limit' if limit is None else f'{limit / mib:g} MiB'}, but maxmemory "
                f"{maxmemory / mib:g} MiB x {HEADROOM} (Redis' overhead above its data) + "
                f"{mounted / mib:g} MiB of memory-backed volumes = {needed / mib:g} MiB: the "
                "kernel would kill Redis before it evicts",
            )  # fmt: skip


def redis_in_use(objs: list[Obj], serving: Serving) -> Iterator[Finding]:
    """A Redis in the render is named by some service pod's cache URL, with its cache on."""
    for obj, _, _ in _containers_of(objs, "redis"):
        names = [s.name for s in objs if s.kind == "Service" and selects(s, obj)]
        users = [
            settings
            for app, settings in serving
            if app.namespace == obj.namespace
            and any(re.match(rf"rediss?://{re.escape(n)}(?:[.:/]|$)", settings["cache_url"])
                    for n in names)
        ]  # fmt: skip
        if not users:
            yield obj.finding(
                "runtime", "metadata.name",
                f"no service pod's WEATHER_API_CACHE_URL names this Redis "
                f"({names or 'no Service'}): it runs unused",
            )  # fmt: skip
        elif not any(float(settings["cache_ttl"]) > 0 for settings in users):
            yield obj.finding(
                "runtime", "metadata.name",
                "the service pods that name this Redis run with WEATHER_API_CACHE_TTL=0 (no "
                "cache), so it stays idle: turn the cache on or leave Redis out",
            )  # fmt: skip
