"""Distributed Locust in a render: workers reach their master, the master reaches its target.

Nothing checks these names before the test runs: a worker whose `--master-host` is not the
master's Service retries for minutes while the master waits for it; a master that waits for more
workers than run never starts; a master aimed at a host that is no Service here, or at Traefik
under a Host no IngressRoute matches, measures connection errors or Traefik's 404s instead of
the service. Options come from the container's command and args, or from the LOCUST_* variables
Locust reads (set directly or from a ConfigMap); arguments win, as in Locust.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from manifest_gate.model import Finding, Obj, containers, image_name, pod_spec, selects
from manifest_gate.xrefs import Index

DEFAULT_MASTER_PORT = 5557
DEFAULT_EXPECT_WORKERS = 1
# Long option -> Locust's own environment variable for it.
ENV = {
    "--host": "LOCUST_HOST",
    "--master-host": "LOCUST_MASTER_NODE_HOST",
    "--master-port": "LOCUST_MASTER_NODE_PORT",
    "--expect-workers": "LOCUST_EXPECT_WORKERS",
    "--master": "LOCUST_MODE_MASTER",
    "--worker": "LOCUST_MODE_WORKER",
}
SHORT = {"-H": "--host"}
FLAGS = {"--master", "--worker", "--headless", "--autostart", "--autoquit"}
HOST_RULE = re.compile(r"\bHost\(\s*`([^`]+)`\s*\)")


@dataclass
class Setting:
    """One option's value and where it is written (an object and a field path in it)."""

    value: str
    obj: Obj
    path: str

    def finding(self, message: str) -> Finding:
        return self.obj.finding("xref", self.path, message)


@dataclass
class LocustProcess:
    """A container that runs `locust`, with the options it would start with."""

    obj: Obj
    cpath: str
    options: dict[str, Setting] = field(default_factory=dict)

    @property
    def role(self) -> str:
        for role in ("master", "worker"):
            flag = self.options.get(f"--{role}")
            if flag is not None and flag.value.lower() not in {"false", "0", ""}:
                return role
        return "standalone"

    def where(self, option: str) -> Setting:
        """The option's setting, or the container's args when it is not set at all."""
        return self.options.get(option) or Setting("", self.obj, f"{self.cpath}.args")


def _is_locust(container: dict[str, Any]) -> bool:
    command = container.get("command") or []
    if command and str(command[0]).rsplit("/", 1)[-1] == "locust":
        return True
    image = image_name(container)
    return not command and ("locust" in image or "loadtest" in image)


def _collect(objs: list[Obj], index: Index) -> list[LocustProcess]:
    found = []
    for obj in objs:
        located = pod_spec(obj)
        if located is None:
            continue
        for cpath, container in containers(*located):
            if not _is_locust(container):
                continue
            process = LocustProcess(obj, cpath)
            _read_env(process, container, index)
            _read_argv(process, container)
            found.append(process)
    return found


def _read_env(process: LocustProcess, container: dict[str, Any], index: Index) -> None:
    wanted = {env: option for option, env in ENV.items()}
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef") or {}
        cm = index.get("ConfigMap", process.obj.namespace, str(ref.get("name")))
        if cm is None:
            continue  # xrefs reports a missing ConfigMap
        for key, value in (cm.data.get("data") or {}).items():
            name = source.get("prefix", "") + key
            if name in wanted:
                process.options[wanted[name]] = Setting(str(value), cm, f"data.{key}")
    for i, env in enumerate(container.get("env") or []):
        if env.get("name") in wanted and "value" in env:
            process.options[wanted[env["name"]]] = Setting(
                str(env["value"]), process.obj, f"{process.cpath}.env[{i}].value"
            )


def _read_argv(process: LocustProcess, container: dict[str, Any]) -> None:
    words = [("command", i, str(w)) for i, w in enumerate(container.get("command") or [])]
    words += [("args", i, str(w)) for i, w in enumerate(container.get("args") or [])]
    n = 0
    while n < len(words):
        key, i, word = words[n]
        path = f"{process.cpath}.{key}[{i}]"
        option, _, value = word.partition("=")
        option = SHORT.get(option, option)
        if option in FLAGS:
            process.options[option] = Setting("true", process.obj, path)
        elif option.startswith("-") and "=" in word:
            process.options[option] = Setting(value, process.obj, path)
        elif option.startswith("-") and n + 1 < len(words):
            n += 1
            process.options[option] = Setting(words[n][2], process.obj, path)
        n += 1


def service_for(host: str, namespace: str, index: Index) -> Obj | None:
    """The Service a cluster DNS name (`svc`, `svc.ns`, `svc.ns.svc[.cluster.local]`) names."""
    parts = host.lower().rstrip(".").split(".")
    if len(parts) == 1:
        name, ns = parts[0], namespace
    elif len(parts) == 2 or parts[2] == "svc":
        name, ns = parts[0], parts[1]
    else:
        return None
    return index.get("Service", ns, name)


def _selected(service: Obj, index: Index) -> list[Obj]:
    return [w for w in index.workloads(service.namespace) if selects(service, w)]


def _has_port(service: Obj, port: int) -> bool:
    return any(p.get("port") == port for p in (service.data.get("spec") or {}).get("ports") or [])


def _int(setting: Setting | None, default: int) -> int | None:
    if setting is None:
        return default
    try:
        return int(setting.value)
    except ValueError:
        return None


RUN_SCOPED = {"Job", "Pod"}
"""Workloads whose pods end with their process; anything else restarts them."""


def is_load_test(objs: list[Obj]) -> bool:
    """Whether the render runs a Locust master (a load test)."""
    return any(p.role == "master" for p in _collect(objs, Index(objs)))


def _replicas(obj: Obj) -> Any:
    """How many worker processes a workload runs: a Job's parallelism, else its replicas."""
    spec = obj.data.get("spec") or {}
    return spec.get("parallelism", 1) if obj.kind == "Job" else spec.get("replicas", 1)


def check(objs: list[Obj]) -> list[Finding]:
    """Every Locust finding of one render."""
    index = Index(objs)
    processes = _collect(objs, index)
    findings: list[Finding] = [
        worker.obj.finding(
            "runtime",
            "kind",
            f"Locust workers in a {worker.obj.kind} outlive the run: when the master ends they "
            "are told to quit, get restarted, find no master and crash-loop, and the next run "
            "waits on them; run them as a Job beside the master's",
        )
        for worker in processes
        if worker.role == "worker" and worker.obj.kind not in RUN_SCOPED
    ]
    masters_of: dict[int, list[LocustProcess]] = {}
    lost = 0
    for worker in (p for p in processes if p.role == "worker"):
        found = list(_worker(worker, processes, index, masters_of))
        lost += bool(found)
        findings.extend(found)
    for master in (p for p in processes if p.role == "master"):
        if not lost:  # workers that cannot find a master are reported already
            findings.extend(_expect_workers(master, masters_of))
        findings.extend(_target(master, index))
    return findings


def _worker(
    worker: LocustProcess,
    processes: list[LocustProcess],
    index: Index,
    masters_of: dict[int, list[LocustProcess]],
) -> Iterator[Finding]:
    setting = worker.where("--master-host")
    host = setting.value or "127.0.0.1"
    service = service_for(host, worker.obj.namespace, index)
    if service is None:
        yield setting.finding(
            f"the worker dials {host!r}, which is not a Service of this render: it would never "
            "reach its master"
        )
        return
    port = _int(worker.options.get("--master-port"), DEFAULT_MASTER_PORT)
    if port is None or not _has_port(service, port):
        yield worker.where("--master-port").finding(
            f"Service {service.namespace}/{service.name} has no port {port} for the worker to dial"
        )
    pods = _selected(service, index)
    masters = [p for p in processes if p.role == "master" and p.obj in pods]
    if not masters:
        yield setting.finding(
            f"Service {service.namespace}/{service.name} selects no Locust master "
            f"(it selects {sorted(w.ident for w in pods) or 'no pods'})"
        )
    for master in masters:
        masters_of.setdefault(id(master), []).append(worker)


def _expect_workers(
    master: LocustProcess, masters_of: dict[int, list[LocustProcess]]
) -> Iterator[Finding]:
    expected = _int(master.options.get("--expect-workers"), DEFAULT_EXPECT_WORKERS)
    workers = masters_of.get(id(master), [])
    counts = [_replicas(w.obj) for w in workers]
    if expected is None or any(not isinstance(c, int) for c in counts):
        return  # not a number, or scaled by something else: nothing to compare
    running = sum(counts)  # type: ignore[arg-type]
    if running < expected:
        names = ", ".join(
            f"{w.obj.ident} {'parallelism' if w.obj.kind == 'Job' else 'replicas'} {c}"
            for w, c in zip(workers, counts, strict=True)
        )
        yield master.where("--expect-workers").finding(
            f"the master waits for {expected} worker(s) but {running} run"
            f"{f' ({names})' if names else ''}: the test would never start"
        )


def _target(master: LocustProcess, index: Index) -> Iterator[Finding]:
    setting = master.options.get("--host")
    if setting is None or not setting.value:
        yield master.where("--host").finding(
            "no --host or LOCUST_HOST: Locust would load locust.conf's host, which is no "
            "Service of this render"
        )
        return
    url = urlsplit(setting.value)
    host = url.hostname or ""
    service = service_for(host, master.obj.namespace, index) if url.scheme else None
    if service is None:
        yield setting.finding(
            f"{setting.value!r}: {host or 'the host'} is not a Service of this render, so the "
            "test would not load this deployment"
        )
        return
    try:
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError:
        port = 0
    if not _has_port(service, port):
        yield setting.finding(f"Service {service.namespace}/{service.name} has no port {port}")
    behind = _selected(service, index)
    traefik = any(
        image_name(c) == "traefik"
        for w in behind
        for _, c in containers(*pod_spec(w))  # type: ignore[misc]
    )
    if not traefik:
        return
    hosts = sorted(
        {
            name
            for route in index.objs
            if route.kind == "IngressRoute" and route.namespace == service.namespace
            for r in (route.data.get("spec") or {}).get("routes") or []
            for name in HOST_RULE.findall(str(r.get("match", "")))
        }
    )
    if host not in hosts:
        yield setting.finding(
            f"Traefik routes by Host and no IngressRoute in {service.namespace} matches "
            f"Host(`{host}`) (they match {hosts or 'no Host'}): every request would get 404"
        )
