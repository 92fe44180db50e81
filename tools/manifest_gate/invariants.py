"""Project invariants over one render: what no schema or policy tool knows about this service,
and what would only show once it runs (a 502 under load, a fence that lets traffic out).

`check` needs only the render; `check_with_app` also gets, for each pod that runs the service,
the settings it starts with (from `appcheck`, which asks the app).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from manifest_gate.model import (
    Finding,
    Obj,
    Serving,
    containers,
    image_name,
    pod_spec,
    role,
    selects,
)
from manifest_gate.xrefs import Index

TRAEFIK_DEFAULT_IDLE = 90.0
"""Traefik's forwarding idleConnTimeout when nothing sets it (seconds)."""
IDLE_FLAG = "--serverstransport.forwardingtimeouts.idleconntimeout"
METRICS_PATH = "/metrics"
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
MATCHER = re.compile(r"([A-Za-z]+)\(\s*((?:`[^`]*`\s*,?\s*)*)\)")


def check(objs: list[Obj]) -> list[Finding]:
    """The invariants that need only the rendered objects."""
    index, apps = Index(objs), [o for o in objs if role(o) == "service"]
    return [*namespaced_rbac(objs), *metrics_not_routed(index, apps)]


def check_with_app(objs: list[Obj], serving: Serving) -> list[Finding]:
    """The invariants that need the settings each service pod starts with."""
    return [*keep_alive_outlasts_proxy(Index(objs), serving), *redis_in_use(objs, serving)]


def _containers(objs: list[Obj], image: str) -> Iterator[tuple[Obj, str, dict[str, Any]]]:
    for obj in objs:
        for cpath, container in containers(*pod_spec(obj)) if pod_spec(obj) else ():
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


Target = tuple[int, dict[str, Any], Obj]
"""(position in the route's services, the reference, the Service it names)"""


def _routes(index: Index) -> Iterator[tuple[Obj, int, dict[str, Any], list[Target]]]:
    """(IngressRoute, route number, route, the Services it sends to) of every Traefik route."""
    for obj in index.objs:
        if obj.kind == "IngressRoute" and obj.api_version.startswith("traefik."):
            for r, route in enumerate((obj.data.get("spec") or {}).get("routes") or []):
                targets = []
                for s, ref in enumerate(route.get("services") or []):
                    ns, name = ref.get("namespace") or obj.namespace, str(ref.get("name"))
                    service = index.get(ref.get("kind") or "Service", ns, name)
                    if service is not None and service.kind == "Service":
                        targets.append((s, ref, service))
                yield obj, r, route, targets


def keep_alive_outlasts_proxy(index: Index, serving: Serving) -> Iterator[Finding]:
    """Traefik drops an idle connection to a pod before the pod's keep-alive timer does;
    otherwise it sends a request on a connection the pod has just closed: a 502."""
    for route, r, _, targets in _routes(index):
        for s, ref, service in targets:
            pods = [settings for obj, settings in serving if selects(service, obj)]
            if not pods:
                continue
            keep_alive = min(float(p["keep_alive_timeout"]) for p in pods)
            raw, where, field = None, route, f"spec.routes[{r}].services[{s}]"
            source = "Traefik's default (no ServersTransport or static flag sets it)"
            transport = index.get(
                "ServersTransport", route.namespace, str(ref.get("serversTransport"))
            )
            if transport is not None:  # xrefs reports one that is named and missing
                raw = ((transport.data.get("spec") or {}).get("forwardingTimeouts") or {}).get(
                    "idleConnTimeout"
                )
                where, field = transport, "spec.forwardingTimeouts.idleConnTimeout"
                source = f"ServersTransport {transport.name}"
            elif not ref.get("serversTransport"):
                for obj, cpath, container in _containers(index.objs, "traefik"):
                    if obj.namespace == service.namespace and IDLE_FLAG in _flags(container):
                        raw, where, field = _flags(container)[IDLE_FLAG], obj, f"{cpath}.args"
                        source = f"Traefik's {IDLE_FLAG}"
            idle = TRAEFIK_DEFAULT_IDLE if raw is None else duration(raw)
            if idle is None:
                yield where.finding("runtime", field, f"{raw!r} is not a duration")
            elif idle >= keep_alive:
                message = (
                    f"Traefik keeps idle connections to {service.namespace}/{service.name} for "
                    f"{idle:g}s ({source}), but the service closes them after {keep_alive:g}s "
                    "(WEATHER_API_KEEP_ALIVE_TIMEOUT): requests sent on a connection the pod "
                    "just closed fail with 502; keep Traefik's idleConnTimeout below it"
                )
                yield where.finding("runtime", field, message)


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


def metrics_not_routed(index: Index, apps: list[Obj]) -> Iterator[Finding]:
    """No IngressRoute publishes the service's /metrics (route names, cache, upstream figures)."""
    for route, r, rule, targets in _routes(index):
        if not any(selects(service, app) for _, _, service in targets for app in apps):
            continue
        try:
            routed = routes_path(str(rule.get("match", "")), METRICS_PATH)
        except (ValueError, SyntaxError) as exc:
            yield route.finding("runtime", f"spec.routes[{r}].match", f"cannot evaluate: {exc}")
            continue
        if routed:
            message = (
                f"routes {METRICS_PATH} to the service: route names, cache and upstream figures "
                f"for anyone who reaches the ingress; add && !PathPrefix(`{METRICS_PATH}`)"
            )
            yield route.finding("runtime", f"spec.routes[{r}].match", message)


def namespaced_rbac(objs: list[Obj]) -> Iterator[Finding]:
    """No cluster-scoped RBAC: a second copy of an overlay would rebind or delete it.
    (A ClusterRole that reads every Secret is checkov's CKV2_K8S_5.)"""
    for obj in objs:
        if obj.kind in {"ClusterRole", "ClusterRoleBinding"}:
            message = (
                f"{obj.kind} is cluster-scoped: a second copy of this overlay in another "
                "namespace would rebind it, and deleting either copy removes it for both; use a "
                "Role and RoleBinding in the namespace"
            )
            yield obj.finding("runtime", "metadata.name", message)


def redis_in_use(objs: list[Obj], serving: Serving) -> Iterator[Finding]:
    """A Redis in the render is named by some service pod's cache URL, with its cache on."""
    for obj, _, _ in _containers(objs, "redis"):
        names = [s.name for s in objs if s.kind == "Service" and selects(s, obj)]
        pattern = re.compile(rf"rediss?://(?:{'|'.join(map(re.escape, names)) or '$^'})(?:[.:/]|$)")
        users = [
            s
            for app, s in serving
            if app.namespace == obj.namespace and pattern.match(s["cache_url"])
        ]
        if not users:
            message = f"no service pod's WEATHER_API_CACHE_URL names this Redis ({names}): unused"
            yield obj.finding("runtime", "metadata.name", message)
        elif not any(float(settings["cache_ttl"]) > 0 for settings in users):
            message = (
                "the service pods that name this Redis run with WEATHER_API_CACHE_TTL=0 (no "
                "cache), so it stays idle: turn the cache on or leave Redis out"
            )
            yield obj.finding("runtime", "metadata.name", message)
