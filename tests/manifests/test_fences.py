"""The fences of the real renders (docs/kubernetes.md, "Fenced in"): each overlay's namespace
denies ingress by default; in the load test the service takes connections from Traefik only,
Traefik dials the service, DNS and the API server only, Redis dials nothing, no Role grants Pods,
and the Redis a render runs is the service's cache. Each breach is shown to be found on a
mutated copy of a real render. (The service's own egress fence is the gate's, invariants.py.)"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from renders import REPO, render

from weather_api.config import Settings

Obj = dict[str, Any]
OVERLAYS = ("dev", "loadtest", "loadtest-shared-cache", "loadtest-observed")
DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
PRIVATE = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]

# The first test builds .venv-manifests (up to 1200 s on a fresh clone).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def _only(name: str) -> Obj:
    """A policy peer: exactly the pods called `name` in the policy's namespace."""
    return {"podSelector": {"matchLabels": {"app.kubernetes.io/name": name}}}


def _labels(objs: list[Obj], name: str) -> dict[str, str] | None:
    """The pod labels of the workload whose pods are called `name`, if the render has one."""
    for obj in objs:
        labels = obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
        if labels.get("app.kubernetes.io/name") == name:
            return dict(labels)
    return None


def _policies(objs: list[Obj], name: str, kind: str) -> list[Obj]:
    """The NetworkPolicies of `kind` (Ingress, Egress) that select the pods called `name`."""
    labels = (_labels(objs, name) or {}).items()
    return [
        p
        for p in objs
        if p["kind"] == "NetworkPolicy"
        and kind in p["spec"].get("policyTypes", [])
        and p["spec"]["podSelector"].get("matchLabels", {}).items() <= labels
    ]


def _private(peer: Obj) -> bool:
    """Whether a peer is only a private IPv4 block (where the API server's address lies)."""
    net = ipaddress.ip_network(peer.get("ipBlock", {}).get("cidr", "0.0.0.0/0"))
    if set(peer) != {"ipBlock"} or not isinstance(net, ipaddress.IPv4Network):
        return False
    return any(net.subnet_of(p) for p in PRIVATE)


def _denies_ingress(policy: Obj, namespace: str) -> bool:
    """Whether `policy` is a default deny: every pod of `namespace`, Ingress, no rule."""
    spec = policy.get("spec", {})
    return (
        policy["kind"] == "NetworkPolicy"
        and policy["metadata"].get("namespace") == namespace
        and spec.get("podSelector") == {}
        and "Ingress" in spec.get("policyTypes", [])
        and not spec.get("ingress")
    )


def problems(objs: list[Obj]) -> list[str]:
    """What in one render breaks a fence this project promises."""
    found = [
        f"namespace {namespace}: no default-deny ingress policy"
        for namespace in (o["metadata"]["name"] for o in objs if o["kind"] == "Namespace")
        if not any(_denies_ingress(p, namespace) for p in objs)
    ]
    if _labels(objs, "traefik") is not None:  # the load test: the service behind Traefik
        for policy in _policies(objs, "weather-api", "Ingress"):
            for i, rule in enumerate(policy["spec"].get("ingress", [])):
                if rule.get("from") != [_only("traefik")]:
                    name = policy["metadata"]["name"]
                    found.append(f"{name}: ingress[{i}] lets others than Traefik reach the service")
        egress = _policies(objs, "traefik", "Egress")
        if not egress:
            found.append("Traefik's egress is not limited")
        for policy in egress:
            for i, rule in enumerate(policy["spec"].get("egress", [])):
                peers = rule.get("to") or [{}]  # no `to`: every destination
                if not all(p in (_only("weather-api"), DNS) or _private(p) for p in peers):
                    name = policy["metadata"]["name"]
                    found.append(
                        f"{name}: egress[{i}] lets Traefik dial beyond the service, DNS, LAN"
                    )
    if (redis := _labels(objs, "weather-redis")) is not None:
        policies = _policies(objs, "weather-redis", "Egress")
        if not policies or any(p["spec"].get("egress") for p in policies):
            found.append("Redis' egress is not denied")
        found += _cache_problems(objs, redis)
    for rbac in (o for o in objs if o["kind"] in {"Role", "ClusterRole"}):
        for i, rule in enumerate(rbac.get("rules", [])):
            resources = {r.split("/")[0] for r in rule.get("resources", [])}
            if {"", "*"} & set(rule.get("apiGroups", [])) and {"pods", "*"} & resources:
                found.append(f"{rbac['kind']} {rbac['metadata']['name']}: rules[{i}] reads pods")
    return found


def _cache_problems(objs: list[Obj], redis: dict[str, str]) -> list[str]:
    """Redis is the service's cache: its WEATHER_API_CACHE_URL names a Service of Redis' pods
    and its cache is on (else Redis takes memory and the run tests nothing of it)."""
    [service] = [
        o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "weather-api"
    ]
    sources = [
        s["configMapRef"]["name"]
        for c in service["spec"]["template"]["spec"]["containers"]
        for s in c.get("envFrom", [])
    ]
    env = {
        k: v
        for o in objs
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] in sources
        for k, v in o["data"].items()
    }
    names = {
        o["metadata"]["name"]
        for o in objs
        if o["kind"] == "Service" and o["spec"].get("selector", {}).items() <= redis.items()
    }
    found = []
    if urlsplit(env.get("WEATHER_API_CACHE_URL", "")).hostname not in names:
        found.append(f"the service's WEATHER_API_CACHE_URL names none of {sorted(names)}")
    if float(env.get("WEATHER_API_CACHE_TTL", Settings.model_fields["cache_ttl"].default)) <= 0:
        found.append("the service's cache is off (WEATHER_API_CACHE_TTL=0): Redis stays idle")
    return found


@pytest.fixture(scope="module")
def renders() -> dict[str, list[Obj]]:
    """Each overlay as the pinned kustomize renders it."""
    return {name: render(REPO / "kustomize" / "overlays" / name) for name in OVERLAYS}


def _one(objs: list[Obj], kind: str, name: str) -> Obj:
    [found] = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _policy(objs: list[Obj], name: str) -> Obj:
    spec: Obj = _one(objs, "NetworkPolicy", name)["spec"]
    return spec


OPEN_INGRESS = {
    "kind": "NetworkPolicy",
    "metadata": {"name": "allow-same-namespace", "namespace": "weather-loadtest"},
    "spec": {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": {}}]}],
    },
}
MUTATIONS: list[tuple[str, str, Callable[[list[Obj]], object], str]] = [
    # (id, overlay, the edit, the problem it must cause)
    (
        "dev-default-deny-deleted",  # was the fixture dev-no-default-deny
        "dev",
        lambda objs: objs.remove(_one(objs, "NetworkPolicy", "default-deny-ingress")),
        "namespace weather-dev: no default-deny ingress policy",
    ),
    (
        "dev-default-deny-allows-all",
        "dev",
        lambda objs: _policy(objs, "default-deny-ingress").update(ingress=[{}]),
        "namespace weather-dev: no default-deny ingress policy",
    ),
    (
        "service-ingress-from-anyone",  # was the fixture loadtest-service-open
        "loadtest",
        lambda objs: _policy(objs, "weather-api")["ingress"][0].pop("from"),
        "weather-api: ingress[0] lets others than Traefik reach the service",
    ),
    (
        "namespace-wide-allow",
        "loadtest",
        lambda objs: objs.append(copy.deepcopy(OPEN_INGRESS)),
        "allow-same-namespace: ingress[0] lets others than Traefik reach the service",
    ),
    (
        "traefik-egress-without-to",  # was the fixture traefik-egress-open
        "loadtest",
        lambda objs: _policy(objs, "traefik-egress")["egress"].append({"ports": [{"port": 443}]}),
        "traefik-egress: egress[3] lets Traefik dial beyond the service, DNS, LAN",
    ),
    (
        "traefik-egress-to-the-internet",
        "loadtest",
        lambda objs: _policy(objs, "traefik-egress")["egress"].append(
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}
        ),
        "traefik-egress: egress[3] lets Traefik dial beyond the service, DNS, LAN",
    ),
    (
        "traefik-egress-policy-deleted",
        "loadtest",
        lambda objs: objs.remove(_one(objs, "NetworkPolicy", "traefik-egress")),
        "Traefik's egress is not limited",
    ),
    (
        "redis-egress-rule",  # was the fixture redis-egress-open
        "loadtest-shared-cache",
        lambda objs: _policy(objs, "weather-redis").update(egress=[{"to": [{"podSelector": {}}]}]),
        "Redis' egress is not denied",
    ),
    (
        "redis-egress-not-a-policy-type",
        "loadtest-shared-cache",
        lambda objs: _policy(objs, "weather-redis").update(policyTypes=["Ingress"]),
        "Redis' egress is not denied",
    ),
    (
        "role-reads-pods",  # was the fixture role-reads-pods
        "loadtest",
        lambda objs: _one(objs, "Role", "traefik")["rules"].append(
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}
        ),
        "Role traefik: rules[3] reads pods",
    ),
    (
        "redis-beside-a-cache-that-is-off",  # was the fixture loadtest-redis-unused
        "loadtest-shared-cache",
        lambda objs: next(
            o["data"] for o in objs if "WEATHER_API_CACHE_TTL" in o.get("data", {})
        ).update(WEATHER_API_CACHE_TTL="0"),
        "the service's cache is off (WEATHER_API_CACHE_TTL=0): Redis stays idle",
    ),
    (
        "redis-not-the-cache-url",
        "loadtest-shared-cache",
        lambda objs: next(
            o["data"] for o in objs if "WEATHER_API_CACHE_URL" in o.get("data", {})
        ).update(WEATHER_API_CACHE_URL="redis://cache:6379/0"),
        "the service's WEATHER_API_CACHE_URL names none of ['weather-redis']",
    ),
]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_real_renders_keep_their_fences(renders: dict[str, list[Obj]], overlay: str) -> None:
    """Every overlay's render keeps the fences docs/kubernetes.md describes."""
    assert problems(renders[overlay]) == []


@pytest.mark.parametrize(
    ("overlay", "mutate", "problem"),
    [
        pytest.param(overlay, mutate, problem, id=name)
        for name, overlay, mutate, problem in MUTATIONS
    ],
)
def test_a_breached_fence_is_found(
    renders: dict[str, list[Obj]], overlay: str, mutate: Callable[[list[Obj]], object], problem: str
) -> None:
    """A render with one fence opened (or Redis left unused) is reported for exactly that."""
    objs = copy.deepcopy(renders[overlay])
    mutate(objs)
    assert problems(objs) == [problem]
