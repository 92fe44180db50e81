"""`make fence-check` (scripts/fence-check) against a stand-in kubectl that runs each probe pod's
command on this machine: real connections on 127.0.0.1 stand for the paths a NetworkPolicy
allows (a listening port) or denies (a closed one)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

FAKE_KUBECTL = """\
    #!{python}
    # A stand-in kubectl: `apply -f -` of a probe Pod runs its command here and keeps the result.
    import json, os, subprocess, sys
    args = sys.argv[1:]
    state = os.environ["FAKE_STATE"]
    words = " ".join(args)
    if "get deployment weather-api" in words:
        print("weather-api:0123456789ab", end="")
    elif args[2:5] == ["apply", "-f", "-"]:
        pod = json.load(sys.stdin)
        name = pod["metadata"]["name"]
        json.dump(pod, open(os.path.join(state, name + ".json"), "w"))
        command = pod["spec"]["containers"][0]["command"]
        if os.environ.get("FAKE_DRY") == "1":  # record the pod, connect nowhere
            run = subprocess.CompletedProcess(command, 0, "", "")
        else:
            run = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True)
        open(os.path.join(state, name + ".log"), "w").write(run.stdout + run.stderr)
        open(os.path.join(state, name + ".rc"), "w").write(str(run.returncode))
    elif args[2:4] == ["get", "pod"]:
        rc = open(os.path.join(state, args[4] + ".rc")).read()
        print("Succeeded" if rc == "0" else "Failed", end="")
    elif args[2:3] == ["logs"]:
        print(open(os.path.join(state, args[3].split("/")[1] + ".log")).read(), end="")
"""


@pytest.fixture
def listening() -> Iterator[str]:
    """A port on 127.0.0.1 that accepts connections: a path the policies let through."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"127.0.0.1:{server.getsockname()[1]}"


@pytest.fixture
def closed() -> str:
    """A port on 127.0.0.1 that nothing listens on: a path the policies deny."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def _fence(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    fake = tmp_path / "kubectl"
    fake.write_text(textwrap.dedent(FAKE_KUBECTL.format(python=sys.executable)))
    fake.chmod(0o755)
    return subprocess.run(
        [str(REPO / "scripts" / "fence-check")],
        cwd=REPO,
        env={
            **os.environ,
            "KUBECTL": str(fake),
            "PYTHON": sys.executable,
            "FAKE_STATE": str(tmp_path),
            "FENCE_TIMEOUT": "20",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_fence_holds(tmp_path: Path, listening: str, closed: str) -> None:
    """Allowed paths connect and denied ones do not: exit 0, each path reported."""
    run = _fence(
        tmp_path,
        FENCE_API_ALLOW=listening,
        FENCE_API_DENY=closed,
        FENCE_LOCUST_ALLOW=listening,
        FENCE_LOCUST_DENY=f"{closed} {closed}",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"ok: allowed {listening}: connected to 127.0.0.1" in run.stdout
    assert f"ok: denied {closed}: no connection" in run.stdout
    assert "OK: the allowed paths connect, the denied ones do not" in run.stderr


def test_fence_fails_when_a_policy_allows_egress(tmp_path: Path, listening: str) -> None:
    """A denied path that connects (an egress policy left open) fails the check, exit 1."""
    run = _fence(
        tmp_path,
        FENCE_API_ALLOW=listening,
        FENCE_API_DENY=listening,
        FENCE_LOCUST_ALLOW=listening,
        FENCE_LOCUST_DENY=listening,
    )
    assert run.returncode == 1
    assert f"BREACH: denied {listening}: connected" in run.stdout
    assert "a NetworkPolicy lets a denied path through" in run.stderr


def test_fence_fails_when_an_allowed_path_is_blocked(
    tmp_path: Path, listening: str, closed: str
) -> None:
    """A stub the service's pods cannot reach fails the check too (the test would fail later)."""
    run = _fence(
        tmp_path,
        FENCE_API_ALLOW=closed,
        FENCE_API_DENY=closed,
        FENCE_LOCUST_ALLOW=listening,
        FENCE_LOCUST_DENY=closed,
    )
    assert run.returncode == 1
    assert f"BLOCKED: allowed {closed}: no connection" in run.stdout


def test_probe_pods_wear_the_policies_labels_and_stay_unready(tmp_path: Path) -> None:
    """The probes carry the labels the policies select, run restricted, and are never Ready."""
    run = _fence(tmp_path, FAKE_DRY="1")
    assert run.returncode == 0, run.stderr
    api = json.loads((tmp_path / "fence-check-api.json").read_text())
    locust = json.loads((tmp_path / "fence-check-locust.json").read_text())
    assert api["metadata"]["labels"]["app.kubernetes.io/name"] == "weather-api"
    assert locust["metadata"]["labels"]["app.kubernetes.io/name"] == "locust-worker"
    container = api["spec"]["containers"][0]
    assert container["image"] == "weather-api:0123456789ab"
    assert container["readinessProbe"]["exec"]["command"] == ["false"]
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert api["spec"]["securityContext"]["runAsNonRoot"] is True
    # The defaults a real cluster gets: the stub and Traefik allowed, the outside denied.
    assert locust["spec"]["containers"][0]["command"][3:] == [
        "+traefik:80",
        "-1.1.1.1:443",
        "-weather-api:8080",
    ]
