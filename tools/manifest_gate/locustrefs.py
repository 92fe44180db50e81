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

# Long option -> Locust's own environment variable for it.
ENV = {
    "--host": "LOCUST_HOST",
    "--master-host": "LOCUST_MASTER_NODE_HOST",
    "--master-port": "LOCUST_MASTER_NODE_PORT",
    "--expect-workers": "LOCUST_EXPECT_WORKERS",
    "--master": "LOCUST_MODE_MASTER",
    "--worker": "LOCUST_MODE_WORKER",
}
FLAGS = {"--master", "--worker", "--headless", "--autostart", "--autoquit"}
RUN_SCOPED = {"Job", "Pod"}
"""Workloads whose pods end with their process; anything else restarts them."""


@dataclass
class Locust:
    """A container that runs `locust`: {option: (value, object that sets it, field path)}."""

    obj: Obj
    cpath: str
    options: dict[str, tuple[str, Obj, str]] = field(default_factory=dict)

    @property
    def role(self) -> str:
        for role in ("master", "worker"):
            if self.options.get(f"--{role}", ("false",))[0].lower() not in {"false", "0", ""}:
                return role
        return "standalone"

    def value(self, option: str, default: str = "") -> str:
        return self.options.get(option, (default,))[0]

    def finding(self, option: str, message: str) -> Finding:
        """A finding on where `option` is set (the container's args when it is not)."""
        _, obj, path = self.options.get(option) or ("", self.obj, f"{self.cpath}.args")
        return obj.finding("xref", path, message)


def processes(objs: list[Obj], index: Index) -> Iterator[Locust]:
    """Every Locust container of the render, with its options."""
    wanted = {env: option for option, env in ENV.items()}
    for obj in objs:
        for cpath, c in containers(*pod_spec(obj)) if pod_spec(obj) else ():
            command = [str(w) for w in c.get("command") or []]
            image = image_name(c)
            if not (command[:1] and command[0].rsplit("/", 1)[-1] == "locust") and (
                command or not ("locust" in image or "loadtest" in image)
            ):
                continue
            found = Locust(obj, cpath)
            for source in c.get("envFrom") or []:
                ref = str((source.get("configMapRef") or {}).get("name"))
                cm = index.get("ConfigMap", obj.namespace, ref)
                for key, value in (cm.data.get("data") or {}).items() if cm else ():
                    if (name := source.get("prefix", "") + key) in wanted:
                        found.options[wanted[name]] = (str(value), cm, f"data.{key}")
            for i, env in enumerate(c.get("env") or []):
                if env.get("name") in wanted and "value" in env:
                    where = (str(env["value"]), obj, f"{cpath}.env[{i}].value")
                    found.options[wanted[env["name"]]] = where
            words = [(f"command[{i}]", str(w)) for i, w in enumerate(c.get("command") or [])]
            words += [(f"args[{i}]", str(w)) for i, w in enumerate(c.get("args") or [])]
            n = 0
            while n < len(words):
                at, word = words[n]
                option, equals, value = word.partition("=")
                option = "--host" if option == "-H" else option
                if option in FLAGS:
                    value = "true"
                elif option.startswith("-") and not equals and n + 1 < len(words):
                    n, value = n + 1, words[n + 1][1]
                if option.startswith("-"):
                    found.options[option] = (value, obj, f"{cpath}.{at}")
                n += 1
            yield found


def is_load_test(objs: list[Obj]) -> bool:
    """Whether the render runs a Locust master (a load test)."""
    return any(p.role == "master" for p in processes(objs, Index(objs)))


def service_for(host: str, namespace: str, index: Index) -> Obj | None:
    """The Service a cluster DNS name (`svc`, `svc.ns`, `svc.ns.svc[.cluster.local]`) names."""
    parts = host.lower().rstrip(".").split(".")
    if len(parts) > 2 and parts[2] != "svc":
        return None
    return index.get("Service", parts[1] if len(parts) > 1 else namespace, parts[0])


def _port(service: Obj, port: Any) -> bool:
    return any(p.get("port") == port for p in (service.data.get("spec") or {}).get("ports") or [])


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def check(objs: list[Obj]) -> list[Finding]:
    """Every Locust finding of one render."""
    index = Index(objs)
    found = list(processes(objs, index))
    workers = [p for p in found if p.role == "worker"]
    findings = [
        w.obj.finding(
            "runtime",
            "kind",
            f"Locust workers in a {w.obj.kind} outlive the run: when the master ends they are "
            "told to quit, get restarted, find no master and crash-loop, and the next run "
            "waits on them; run them as a Job beside the master's",
        )
        for w in workers
        if w.obj.kind not in RUN_SCOPED
    ]
    served: dict[int, list[Locust]] = {}
    lost = False  # workers that cannot find a master: counting them says nothing more
    for worker in workers:
        host = worker.value("--master-host", "127.0.0.1")
        service = service_for(host, worker.obj.namespace, index)
        if service is None:
            findings.append(
                worker.finding(
                    "--master-host",
                    f"the worker dials {host!r}, which "
                    "is not a Service of this render: it would never reach its master",
                )
            )
            lost = True
            continue
        port = _int(worker.value("--master-port", "5557"))
        if not _port(service, port):
            findings.append(
                worker.finding(
                    "--master-port",
                    f"Service {service.namespace}/"
                    f"{service.name} has no port {port} for the worker to dial",
                )
            )
        masters = [p for p in found if p.role == "master" and selects(service, p.obj)]
        lost = lost or not masters
        if not masters:
            findings.append(
                worker.finding(
                    "--master-host",
                    f"Service {service.namespace}/{service.name} selects no Locust master",
                )
            )
        for master in masters:
            served.setdefault(id(master), []).append(worker)
    for master in (p for p in found if p.role == "master"):
        if not lost:
            findings.extend(_expect_workers(master, served.get(id(master), [])))
        findings.extend(_target(master, index))
    return findings


def _expect_workers(master: Locust, workers: list[Locust]) -> Iterator[Finding]:
    expected = _int(master.value("--expect-workers", "1"))
    spec = [w.obj.data.get("spec") or {} for w in workers]
    counts = [
        s.get("parallelism", 1) if w.obj.kind == "Job" else s.get("replicas", 1)
        for w, s in zip(workers, spec, strict=True)
    ]
    if expected is None or not all(isinstance(c, int) for c in counts) or sum(counts) >= expected:
        return  # enough, or not numbers to compare
    names = ", ".join(
        f"{w.obj.ident} {'parallelism' if w.obj.kind == 'Job' else 'replicas'} {c}"
        for w, c in zip(workers, counts, strict=True)
    )
    yield master.finding(
        "--expect-workers",
        f"the master waits for {expected} worker(s) but "
        f"{sum(counts)} run{f' ({names})' if names else ''}: the test would never start",
    )


def _target(master: Locust, index: Index) -> Iterator[Finding]:
    target = master.value("--host")
    url = urlsplit(target)
    host = url.hostname or ""
    service = service_for(host, master.obj.namespace, index) if url.scheme else None
    if service is None:
        yield master.finding(
            "--host",
            f"{target!r}: {host or 'no host'} is not a Service of this "
            "render (or no --host / LOCUST_HOST), so the test would not load this deployment",
        )
        return
    port = url.port or (443 if url.scheme == "https" else 80)
    if not _port(service, port):
        yield master.finding(
            "--host", f"Service {service.namespace}/{service.name} has no port {port}"
        )
    behind = [pod_spec(w) for w in index.workloads(service.namespace) if selects(service, w)]
    if not any(image_name(c) == "traefik" for p in behind if p for _, c in containers(*p)):
        return
    hosts = sorted(
        {
            name
            for route in index.objs
            if route.kind == "IngressRoute" and route.namespace == service.namespace
            for r in (route.data.get("spec") or {}).get("routes") or []
            for name in re.findall(r"\bHost\(\s*`([^`]+)`\s*\)", str(r.get("match", "")))
        }
    )
    if host not in hosts:
        yield master.finding(
            "--host",
            f"Traefik routes by Host and no IngressRoute in "
            f"{service.namespace} matches Host(`{host}`) (they match {hosts or 'no Host'}): "
            "every request would get 404",
        )
