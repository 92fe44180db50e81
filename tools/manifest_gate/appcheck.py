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

from manifest_gate.model import Finding, Obj, containers, image_name, pod_spec

HERE = Path(__file__).resolve().parent
IMAGE = "weather-api"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DEFAULT_GRACE = 30


def image_command(dockerfile: Path) -> list[str]:
    """ENTRYPOINT + CMD of the Dockerfile's last stage (exec form), as the image runs them."""
    entrypoint: list[str] = []
    cmd: list[str] = []
    text = re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8"))
    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if not words:
            continue
        instruction = words[0].upper()
        if instruction == "FROM":
            entrypoint, cmd = [], []
        elif instruction in {"ENTRYPOINT", "CMD"} and len(words) == 2:
            try:
                value = json.loads(words[1])
            except json.JSONDecodeError:
                value = ["/bin/sh", "-c", words[1]]
            if instruction == "ENTRYPOINT":
                entrypoint, cmd = value, []
            else:
                cmd = value
    return [*entrypoint, *cmd]


def _did_you_mean(name: str, names: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(names), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


@dataclass
class Source:
    """Where one WEATHER_API_* value comes from: an object and a field path in it."""

    obj: Obj
    path: str
    value: str


@dataclass
class AppContainer:
    """One container that runs the weather-api image, with what it would be started with."""

    obj: Obj
    cpath: str
    spec_path: str
    pod: dict[str, Any]
    container: dict[str, Any]
    args: list[str]
    args_path: str
    env: dict[str, Source] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)


def _collect(objs: list[Obj], image_argv: list[str]) -> list[AppContainer]:
    by_key = {(o.kind, o.namespace, o.name): o for o in objs}
    found = []
    for obj in objs:
        located = pod_spec(obj)
        if located is None:
            continue
        spec_path, pod = located
        for cpath, container in containers(spec_path, pod):
            if image_name(container) != IMAGE:
                continue
            command = container.get("command")
            if command is not None:
                argv = [*command, *(container.get("args") or [])]
                args_path = f"{cpath}.command"
            elif container.get("args") is not None:
                argv = [*image_argv[:1], *container["args"]]
                args_path = f"{cpath}.args"
            else:
                argv = image_argv
                args_path = "Dockerfile CMD"
            entry = AppContainer(obj, cpath, spec_path, pod, container, argv[1:], args_path)
            for source in container.get("envFrom") or []:
                ref = source.get("configMapRef")
                cm = by_key.get(("ConfigMap", obj.namespace, str((ref or {}).get("name"))))
                if cm is None:
                    continue
                prefix = source.get("prefix", "")
                for key, value in (cm.data.get("data") or {}).items():
                    entry.env[prefix + key] = Source(cm, f"data.{key}", str(value))
            for i, env in enumerate(container.get("env") or []):
                value = env.get("value")
                if value is None and "valueFrom" in env:
                    value = "from-a-reference"  # a Secret's content is unknown here
                entry.env[env["name"]] = Source(obj, f"{cpath}.env[{i}]", str(value or ""))
            if pod.get("enableServiceLinks", True) is not False:
                entry.links = _service_links(objs, obj.namespace)
            found.append(entry)
    return found


def _service_links(objs: list[Obj], namespace: str) -> dict[str, str]:
    """The variables the kubelet injects for each Service of the namespace (docker links)."""
    env: dict[str, str] = {}
    for svc in objs:
        if svc.kind != "Service" or svc.namespace != namespace:
            continue
        name = svc.name.upper().replace("-", "_")
        ports = (svc.data.get("spec") or {}).get("ports") or []
        ip = "CLUSTER-IP"
        if not ports:
            continue
        first = ports[0]
        proto = str(first.get("protocol", "TCP"))
        env[f"{name}_SERVICE_HOST"] = ip
        env[f"{name}_SERVICE_PORT"] = str(first.get("port"))
        env[f"{name}_PORT"] = f"{proto.lower()}://{ip}:{first.get('port')}"
        for port in ports:
            p, pr = port.get("port"), str(port.get("protocol", "TCP"))
            if port.get("name"):
                env[f"{name}_SERVICE_PORT_{str(port['name']).upper().replace('-', '_')}"] = str(p)
            base = f"{name}_PORT_{p}_{pr}"
            env[base] = f"{pr.lower()}://{ip}:{p}"
            env[f"{base}_PROTO"] = pr.lower()
            env[f"{base}_PORT"] = str(p)
            env[f"{base}_ADDR"] = ip
    return env


def _probe_paths(entry: AppContainer) -> list[tuple[str, str]]:
    out = []
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        http = (entry.container.get(probe) or {}).get("httpGet")
        if http:
            out.append((f"{entry.cpath}.{probe}.httpGet.path", str(http.get("path", "/"))))
    return out


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


Serving = list[tuple[Obj, dict[str, Any]]]
"""(workload, the settings `weather-api serve` starts with in it) for each service container."""


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
        request["paths"].extend(path for _, path in _probe_paths(entry))
        env = {k: s.value for k, s in entry.env.items()}
        request["containers"][f"{n}"] = {"args": entry.args, "env": env}
        request["containers"][f"{n}+links"] = {"args": entry.args, "env": {**entry.links, **env}}
    facts = ask_app(python, request)
    out: list[tuple[Obj, Finding]] = []
    names = set(facts["env_names"])
    prefix = facts["env_prefix"]
    seen: set[tuple[int, str]] = set()
    for n, entry in enumerate(entries):
        started = facts["containers"][f"{n}"]
        if started.get("command", "serve") != "serve":
            continue  # `weather-api stub` and friends: not the service, other settings
        findings: list[Finding] = []
        for name, source in entry.env.items():
            if name.startswith(prefix) and name not in names:
                key = (id(source.obj), source.path)
                if key in seen:
                    continue
                seen.add(key)
                findings.append(
                    source.obj.finding(
                        "app",
                        source.path if source.obj.kind == "ConfigMap" else f"{source.path}.name",
                        f"{name} is not a Settings field{_did_you_mean(name, names)}",
                    )
                )
        findings.extend(_check_start(entry, started, facts))
        if not findings:
            linked = facts["containers"][f"{n}+links"]
            for error in linked.get("errors", []):
                var = f"{prefix}{error['field'].upper()}"
                if var in entry.links and var not in entry.env:
                    findings.append(
                        entry.obj.finding(
                            "app",
                            f"{entry.spec_path}.enableServiceLinks",
                            f"service links inject {var}={entry.links[var]} and weather-api "
                            f"refuses to start ({error['field']}: {error['message']}); set "
                            "enableServiceLinks: false",
                        )
                    )
        for path_field, path in _probe_paths(entry):
            answer = facts["paths"].get(path, {})
            known = ", ".join(facts["known_paths"])
            if not answer.get("routed"):
                findings.append(
                    entry.obj.finding(
                        "app", path_field, f"{path!r} is not a route of the app (routes: {known})"
                    )
                )
            elif answer.get("template"):
                findings.append(
                    entry.obj.finding(
                        "app",
                        path_field,
                        f"{path!r} only matches the parameterised route {answer['template']!r} "
                        f"(a weather lookup, not a health check; routes: {known})",
                    )
                )
        out.extend((entry.obj, finding) for finding in findings)
    started_of = {id(entry): facts["containers"][f"{n}"] for n, entry in enumerate(entries)}
    serving = [
        [(e.obj, s) for e in found if "port" in (s := started_of[id(e)])] for found in per_render
    ]
    return out, serving


def _check_start(
    entry: AppContainer, started: dict[str, Any], facts: dict[str, Any]
) -> list[Finding]:
    obj = entry.obj
    if "error" in started:
        return [obj.finding("app", entry.args_path, started["error"])]
    if started.get("command") != "serve":
        return []  # `weather-api stub` and friends have their own settings
    findings = []
    for error in started.get("errors", []):
        var = f"{facts['env_prefix']}{error['field'].upper()}"
        source = entry.env.get(var)
        if source is not None:
            where = source.path if source.obj.kind == "ConfigMap" else f"{source.path}.value"
            findings.append(
                source.obj.finding("app", where, f"{var}={error['input']!r}: {error['message']}")
            )
        else:
            findings.append(
                obj.finding("app", entry.args_path, f"{error['field']}: {error['message']}")
            )
    if findings:
        return findings
    port, host = started["port"], started["host"]
    ports = entry.container.get("ports") or []
    if not any(p.get("containerPort") == port for p in ports):
        at = next((i for i, p in enumerate(ports) if p.get("name") == "http"), 0)
        findings.append(
            obj.finding(
                "app",
                f"{entry.cpath}.ports[{at}].containerPort" if ports else f"{entry.cpath}.ports",
                f"weather-api serve listens on {port} here ({entry.args_path}, "
                f"WEATHER_API_PORT or the Settings default), not on "
                f"{[p.get('containerPort') for p in ports]}",
            )
        )
    if host in LOOPBACK:
        findings.append(
            obj.finding(
                "app",
                entry.args_path,
                f"weather-api serve listens on {host} only: probes and Services cannot reach it",
            )
        )
    grace = entry.pod.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
    pre_stop = (
        ((entry.container.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}
    ).get("seconds", 0)
    needed = pre_stop + started["drain_delay"] + started["shutdown_grace"]
    if not needed < grace:
        findings.append(
            obj.finding(
                "app",
                f"{entry.spec_path}.terminationGracePeriodSeconds",
                f"{grace}s, but preStop sleep {pre_stop}s + drain delay {started['drain_delay']:g}s"
                f" + shutdown grace {started['shutdown_grace']:g}s = {needed:g}s: in-flight "
                "requests would be killed",
            )
        )
    return findings
