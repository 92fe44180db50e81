"""The manifests against the app: probe paths, settings variables, listening port, drain time,
service links. The app's side comes from `app_facts.py`, run with the project's interpreter (the
gate's venv holds the policy tools, not the app's dependencies)."""

from __future__ import annotations

import difflib
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from manifest_gate.model import Finding, Obj, Serving, containers, image_name, pod_spec

PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
Source = tuple[Obj, str, str]
"""What sets a variable: (ConfigMap, `data.NAME`, value) or (workload, `...env[i]`, value)"""


def image_command(dockerfile: Path) -> list[str]:
    """ENTRYPOINT + CMD of the Dockerfile's last stage, as the image runs them."""
    words: dict[str, list[str]] = {}
    for line in re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8")).splitlines():
        instruction, _, rest = line.strip().partition(" ")
        if (key := instruction.upper()) == "FROM":
            words = {}
        elif key in {"ENTRYPOINT", "CMD"}:
            words[key] = (
                json.loads(rest) if rest.lstrip().startswith("[") else ["/bin/sh", "-c", rest]
            )
    return [*words.get("ENTRYPOINT", []), *words.get("CMD", [])]


@dataclass
class AppContainer:
    """One container of the weather-api image: its arguments, probes and environment."""

    obj: Obj
    cpath: str
    container: dict[str, Any]
    args: list[str]
    args_path: str
    probes: dict[str, str]
    env: dict[str, Source]


def _collect(objs: list[Obj], image_argv: list[str]) -> Iterator[AppContainer]:
    config_maps = {(o.namespace, o.name): o for o in objs if o.kind == "ConfigMap"}
    for obj in objs:
        spec_path, pod = pod_spec(obj) or ("", {})
        for cpath, c in containers(spec_path, pod) if spec_path else ():
            if image_name(c) != "weather-api":
                continue
            if c.get("command") is not None:
                argv, args_path = [*c["command"], *(c.get("args") or [])], f"{cpath}.command"
            elif c.get("args") is not None:
                argv, args_path = [*image_argv[:1], *c["args"]], f"{cpath}.args"
            else:
                argv, args_path = image_argv, "Dockerfile CMD"
            env: dict[str, Source] = {}
            for source in c.get("envFrom") or []:
                ref = (obj.namespace, str((source.get("configMapRef") or {}).get("name")))
                for cm in [config_maps[ref]] if ref in config_maps else []:
                    for key, value in (cm.data.get("data") or {}).items():
                        env[source.get("prefix", "") + key] = (cm, f"data.{key}", str(value))
            for i, var in enumerate(c.get("env") or []):
                # A Secret's content is unknown here: any non-empty value stands for it.
                value = var.get("value") or ("from-a-reference" if "valueFrom" in var else "")
                env[var["name"]] = (obj, f"{cpath}.env[{i}]", str(value))
            probes = {
                p: c[p]["httpGet"].get("path", "/") for p in PROBES if "httpGet" in c.get(p, {})
            }
            yield AppContainer(obj, cpath, c, [*map(str, argv[1:])], args_path, probes, env)


def check(
    renders: list[list[Obj]], *, python: str, dockerfile: Path
) -> tuple[list[tuple[Obj, Finding]], list[Serving]]:
    """All app <-> manifest findings of the renders, each with the object it is about, and for
    each render the settings its service containers start with (for `invariants`); one run of
    app_facts answers for every render, as importing the app is the slow part."""
    image_argv = image_command(dockerfile)
    entries = [(n, e) for n, objs in enumerate(renders) for e in _collect(objs, image_argv)]
    request = {
        "paths": sorted({path for _, e in entries for path in e.probes.values()}),
        "containers": [
            {"args": e.args, "env": {k: s[2] for k, s in e.env.items()}} for _, e in entries
        ],
    }
    app_facts = str(Path(__file__).with_name("app_facts.py"))
    run = subprocess.run(
        [python, app_facts], input=json.dumps(request), capture_output=True, text=True, check=False
    )
    if run.returncode != 0:
        raise RuntimeError(f"{python} app_facts.py failed:\n{run.stderr.strip()}")
    facts = json.loads(run.stdout)
    out: list[tuple[Obj, Finding]] = []
    serving: list[Serving] = [[] for _ in renders]
    for (n, entry), started in zip(entries, facts["containers"], strict=True):
        if "command" in started:
            continue  # `weather-api stub` and friends: not the service, other settings
        findings = [
            *_unknown_names(entry, facts),
            *_start(entry, started, facts["prefix"]),
            *_links(entry, renders[n], set(facts["fields"])),
            *_probes(entry, facts),
        ]
        out.extend((entry.obj, finding) for finding in findings)
        if "port" in started:
            serving[n].append((entry.obj, started))
    return out, serving


def _unknown_names(entry: AppContainer, facts: dict[str, Any]) -> Iterator[Finding]:
    """`WEATHER_API_*` variables that no Settings field reads."""
    for name, (obj, path, _) in entry.env.items():
        if name.startswith(facts["prefix"]) and name not in facts["fields"]:
            close = difflib.get_close_matches(name, facts["fields"], n=2, cutoff=0.6)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            where = path if obj.kind == "ConfigMap" else f"{path}.name"
            yield obj.finding("app", where, f"{name} is not a Settings field{hint}")


def _probes(entry: AppContainer, facts: dict[str, Any]) -> Iterator[Finding]:
    """HTTP probes that reach no route of the app, or only a parameterised (weather) one."""
    routes = ", ".join(facts["static_routes"])
    for probe, path in entry.probes.items():
        route = facts["routes"][path]
        if route is None:
            message = f"{path!r} is not a route of the app (routes: {routes})"
        elif "{" in route:
            message = f"{path!r} only reaches {route!r}, a weather lookup, not a health check"
        else:
            continue
        yield entry.obj.finding("app", f"{entry.cpath}.{probe}.httpGet.path", message)


def _links(entry: AppContainer, objs: list[Obj], fields: set[str]) -> Iterator[Finding]:
    """Settings the kubelet's service links would set: a Service named weather-api makes it set
    WEATHER_API_PORT=tcp://10.x.y.z:8080. The container's own variables win over links."""
    spec_path, pod = pod_spec(entry.obj) or ("", {})
    services = [o for o in objs if o.kind == "Service" and o.namespace == entry.obj.namespace]
    for svc in services if pod.get("enableServiceLinks", True) is not False else ():
        name = svc.name.upper().replace("-", "_")
        injected = {f"{name}_SERVICE_HOST", f"{name}_SERVICE_PORT", f"{name}_PORT"}
        for port in (svc.data.get("spec") or {}).get("ports") or []:
            base = f"{name}_PORT_{port.get('port')}_{port.get('protocol', 'TCP')}"
            injected |= {base, f"{base}_PROTO", f"{base}_PORT", f"{base}_ADDR"}
            if port.get("name"):
                injected.add(f"{name}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}")
        for var in sorted(injected & fields - entry.env.keys()):
            message = f"service links inject {var} (from {svc.ident}), a Settings field: set false"
            yield entry.obj.finding("app", f"{spec_path}.enableServiceLinks", message)


def _start(entry: AppContainer, started: dict[str, Any], prefix: str) -> list[Finding]:
    """Why `weather-api serve` would not start here, or would start unreachable or unkillable."""
    obj, findings = entry.obj, []
    for field, message, value in started.get("errors", []):
        var = prefix + field.upper()
        if var in entry.env:
            source, path, _ = entry.env[var]
            where = path if source.kind == "ConfigMap" else f"{path}.value"
            findings.append(source.finding("app", where, f"{var}={value!r}: {message}"))
        else:
            message = f"{field}: {message}" if field else message
            findings.append(obj.finding("app", entry.args_path, message))
    if findings:
        return findings
    port, ports = started["port"], entry.container.get("ports") or []
    if not any(p.get("containerPort") == port for p in ports):
        at = next((i for i, p in enumerate(ports) if p.get("name") == "http"), 0)
        where = f"{entry.cpath}.ports[{at}].containerPort" if ports else f"{entry.cpath}.ports"
        message = f"weather-api serve listens on {port} ({entry.args_path} or {prefix}PORT)"
        findings.append(obj.finding("app", where, message))
    if started["host"] in {"127.0.0.1", "localhost", "::1"}:
        message = f"weather-api serve listens on {started['host']} only: probes and Services "
        findings.append(obj.finding("app", entry.args_path, message + "cannot reach it"))
    spec_path, pod = pod_spec(obj) or ("", {})
    grace = pod.get("terminationGracePeriodSeconds", 30)
    lifecycle = entry.container.get("lifecycle") or {}
    sleep = ((lifecycle.get("preStop") or {}).get("sleep") or {}).get("seconds", 0)
    drain, shutdown = started["drain_delay"], started["shutdown_grace"]
    if not sleep + drain + shutdown < grace:
        message = (
            f"{grace}s, but preStop sleep {sleep}s + drain delay {drain:g}s + shutdown grace "
            f"{shutdown:g}s = {sleep + drain + shutdown:g}s: in-flight requests would be killed"
        )
        findings.append(obj.finding("app", f"{spec_path}.terminationGracePeriodSeconds", message))
    return findings
