"""The manifests against the app: probe paths, settings variables, listening port, drain time.

The app's side comes from `app_facts.py`, run with the project's own interpreter (the gate's
venv holds the policy tools, not the app's dependencies).
"""

from __future__ import annotations

import difflib
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from manifest_gate.model import Finding, Obj, Serving, containers, image_name, pod_spec

HERE = Path(__file__).resolve().parent
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def image_command(dockerfile: Path) -> list[str]:
    """ENTRYPOINT + CMD of the Dockerfile's last stage (exec form), as the image runs them."""
    entrypoint: list[str] = []
    cmd: list[str] = []
    for line in re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8")).splitlines():
        instruction, _, rest = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            entrypoint, cmd = [], []
        elif instruction.upper() in {"ENTRYPOINT", "CMD"} and rest:
            try:
                value = json.loads(rest)
            except json.JSONDecodeError:
                value = ["/bin/sh", "-c", rest]
            if instruction.upper() == "ENTRYPOINT":
                entrypoint, cmd = value, []
            else:
                cmd = value
    return [*entrypoint, *cmd]


@dataclass
class AppContainer:
    """One container of the weather-api image: its arguments and `WEATHER_API_*` sources."""

    obj: Obj
    cpath: str
    container: dict[str, Any]
    args: list[str]
    args_path: str
    env: dict[str, tuple[Obj, str, str]] = field(default_factory=dict)
    """{name: (object, field path, value)}"""
    links: dict[str, str] = field(default_factory=dict)
    """What the kubelet's service links would add to the environment."""


def _collect(objs: list[Obj], image_argv: list[str]) -> list[AppContainer]:
    by_key = {(o.kind, o.namespace, o.name): o for o in objs}
    found = []
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
            entry = AppContainer(obj, cpath, c, [str(a) for a in argv[1:]], args_path)
            for source in c.get("envFrom") or []:
                name = str((source.get("configMapRef") or {}).get("name"))
                cm = by_key.get(("ConfigMap", obj.namespace, name))
                for key, value in (cm.data.get("data") or {}).items() if cm else ():
                    entry.env[source.get("prefix", "") + key] = (cm, f"data.{key}", str(value))
            for i, env in enumerate(c.get("env") or []):
                # A Secret's content is unknown here: any non-empty value stands for it.
                value = env.get("value") or ("from-a-reference" if "valueFrom" in env else "")
                entry.env[env["name"]] = (obj, f"{cpath}.env[{i}]", str(value))
            if pod.get("enableServiceLinks", True) is not False:
                entry.links = _service_links(objs, obj.namespace)
            found.append(entry)
    return found


def _service_links(objs: list[Obj], namespace: str) -> dict[str, str]:
    """The variables the kubelet injects for each Service of the namespace (docker links)."""
    env: dict[str, str] = {}
    for svc in (o for o in objs if o.kind == "Service" and o.namespace == namespace):
        name = svc.name.upper().replace("-", "_")
        ports = (svc.data.get("spec") or {}).get("ports") or []
        for n, port in enumerate(ports):
            number, proto = port.get("port"), str(port.get("protocol", "TCP"))
            url = f"{proto.lower()}://CLUSTER-IP:{number}"
            if n == 0:
                env[f"{name}_SERVICE_HOST"] = "CLUSTER-IP"
                env[f"{name}_SERVICE_PORT"] = str(number)
                env[f"{name}_PORT"] = url
            if port.get("name"):
                port_name = str(port["name"]).upper().replace("-", "_")
                env[f"{name}_SERVICE_PORT_{port_name}"] = str(number)
            base = f"{name}_PORT_{number}_{proto}"
            env.update({base: url, f"{base}_PROTO": proto.lower(), f"{base}_PORT": str(number)})
            env[f"{base}_ADDR"] = "CLUSTER-IP"
    return env


def _probes(entry: AppContainer) -> list[tuple[str, str]]:
    """(field path, path) of each HTTP probe."""
    return [
        (f"{entry.cpath}.{probe}.httpGet.path", str(http.get("path", "/")))
        for probe in ("livenessProbe", "readinessProbe", "startupProbe")
        if (http := (entry.container.get(probe) or {}).get("httpGet"))
    ]


def ask_app(python: str, request: dict[str, Any]) -> dict[str, Any]:
    """Run app_facts.py with the project's interpreter."""
    result = subprocess.run(
        [python, str(HERE / "app_facts.py")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{python} app_facts.py failed:\n{result.stderr.strip()}")
    facts: dict[str, Any] = json.loads(result.stdout)
    return facts


def check(
    renders: list[list[Obj]], *, python: str, dockerfile: Path
) -> tuple[list[tuple[Obj, Finding]], list[Serving]]:
    """All app <-> manifest findings of the renders, each with the object it is about; and for
    each render, the settings its service containers start with (for `invariants`).

    One app_facts run answers for every render: importing the app is the slow part.
    """
    image_argv = image_command(dockerfile)
    per_render = [_collect(objs, image_argv) for objs in renders]
    entries = [entry for found in per_render for entry in found]
    if not entries:
        return [], [[] for _ in renders]
    request: dict[str, Any] = {"paths": [], "containers": {}}
    for n, entry in enumerate(entries):
        request["paths"].extend(path for _, path in _probes(entry))
        env = {name: value for name, (_, _, value) in entry.env.items()}
        request["containers"][f"{n}"] = {"args": entry.args, "env": env}
        request["containers"][f"{n}+links"] = {"args": entry.args, "env": {**entry.links, **env}}
    facts = ask_app(python, request)
    out: list[tuple[Obj, Finding]] = []
    seen: set[tuple[int, str]] = set()
    for n, entry in enumerate(entries):
        started = facts["containers"][f"{n}"]
        if started.get("command", "serve") != "serve":
            continue  # `weather-api stub` and friends: not the service, other settings
        findings = [*_unknown_names(entry, facts, seen), *_start(entry, started, facts)]
        if not findings:
            findings += _links(entry, facts["containers"][f"{n}+links"], facts["env_prefix"])
        known = ", ".join(facts["known_paths"])
        for path_field, path in _probes(entry):
            answer = facts["paths"].get(path, {})
            if not answer.get("routed"):
                message = f"{path!r} is not a route of the app (routes: {known})"
                findings.append(entry.obj.finding("app", path_field, message))
            elif answer.get("template"):
                message = (
                    f"{path!r} only matches the parameterised route {answer['template']!r} "
                    f"(a weather lookup, not a health check; routes: {known})"
                )
                findings.append(entry.obj.finding("app", path_field, message))
        out.extend((entry.obj, finding) for finding in findings)
    started_of = {id(entry): facts["containers"][f"{n}"] for n, entry in enumerate(entries)}
    serving = [
        [(e.obj, s) for e in found if "port" in (s := started_of[id(e)])] for found in per_render
    ]
    return out, serving


def _unknown_names(
    entry: AppContainer, facts: dict[str, Any], seen: set[tuple[int, str]]
) -> list[Finding]:
    """`WEATHER_API_*` variables that no Settings field reads (each source reported once)."""
    names = set(facts["env_names"])
    findings = []
    for name, (obj, path, _) in entry.env.items():
        if not name.startswith(facts["env_prefix"]) or name in names or (id(obj), path) in seen:
            continue
        seen.add((id(obj), path))
        close = difflib.get_close_matches(name, sorted(names), n=2, cutoff=0.6)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        where = path if obj.kind == "ConfigMap" else f"{path}.name"
        findings.append(obj.finding("app", where, f"{name} is not a Settings field{hint}"))
    return findings


def _links(entry: AppContainer, linked: dict[str, Any], prefix: str) -> list[Finding]:
    """Settings that the service links' variables would break."""
    findings = []
    for error in linked.get("errors", []):
        var = f"{prefix}{error['field'].upper()}"
        if var in entry.links and var not in entry.env:
            spec_path = entry.cpath.rsplit(".", 1)[0]
            message = (
                f"service links inject {var}={entry.links[var]} and weather-api refuses to "
                f"start ({error['field']}: {error['message']}); set enableServiceLinks: false"
            )
            findings.append(entry.obj.finding("app", f"{spec_path}.enableServiceLinks", message))
    return findings


def _start(entry: AppContainer, started: dict[str, Any], facts: dict[str, Any]) -> list[Finding]:
    """Why `weather-api serve` would not start here, or would start unreachable or unkillable."""
    obj = entry.obj
    if "error" in started:
        return [obj.finding("app", entry.args_path, started["error"])]
    findings = []
    for error in started.get("errors", []):
        var = f"{facts['env_prefix']}{error['field'].upper()}"
        if var in entry.env:
            source, path, _ = entry.env[var]
            where = path if source.kind == "ConfigMap" else f"{path}.value"
            message = f"{var}={error['input']!r}: {error['message']}"
            findings.append(source.finding("app", where, message))
        else:
            message = f"{error['field']}: {error['message']}"
            findings.append(obj.finding("app", entry.args_path, message))
    if findings:
        return findings
    port, ports = started["port"], entry.container.get("ports") or []
    if not any(p.get("containerPort") == port for p in ports):
        at = next((i for i, p in enumerate(ports) if p.get("name") == "http"), 0)
        where = f"{entry.cpath}.ports[{at}].containerPort" if ports else f"{entry.cpath}.ports"
        message = (
            f"weather-api serve listens on {port} here ({entry.args_path}, WEATHER_API_PORT or "
            f"the Settings default), not on {[p.get('containerPort') for p in ports]}"
        )
        findings.append(obj.finding("app", where, message))
    if started["host"] in LOOPBACK:
        message = f"weather-api serve listens on {started['host']} only: probes and Services "
        findings.append(obj.finding("app", entry.args_path, message + "cannot reach it"))
    spec_path, pod = pod_spec(obj) or ("", {})
    grace = pod.get("terminationGracePeriodSeconds", 30)
    pre_stop = ((entry.container.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}
    drain, shutdown = started["drain_delay"], started["shutdown_grace"]
    needed = pre_stop.get("seconds", 0) + drain + shutdown
    if not needed < grace:
        message = (
            f"{grace}s, but preStop sleep {pre_stop.get('seconds', 0)}s + drain delay {drain:g}s"
            f" + shutdown grace {shutdown:g}s = {needed:g}s: in-flight requests would be killed"
        )
        findings.append(obj.finding("app", f"{spec_path}.terminationGracePeriodSeconds", message))
    return findings
