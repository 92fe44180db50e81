"""The load-test overlay: what it renders, what docs/kubernetes.md's walkthrough says about it, and the order
in which `make deploy-loadtest` talks to the cluster (against a stand-in kubectl)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
OVERLAY = REPO / "kustomize" / "overlays" / "loadtest"
KUBECTL = REPO / ".venv-manifests" / "bin" / "kubectl"

# The first test builds .venv-manifests (up to 1200 s on a fresh clone), gate runs take 600.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    """The overlay as the pinned kustomize renders it."""
    subprocess.run(
        ["make", "--no-print-directory", "manifests-venv"], cwd=REPO, check=True, timeout=1200
    )
    out = subprocess.run(
        [str(KUBECTL), "kustomize", str(OVERLAY)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if isinstance(d, dict)]


def _one(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
    return found[0]


def _readme_section() -> str:
    text = (REPO / "docs" / "kubernetes.md").read_text(encoding="utf-8")
    start = text.index("## Load test on minikube")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_hpa_owns_the_scale(rendered: list[dict[str, Any]]) -> None:
    """The HPA scales weather-api 4-10 on CPU; the Deployment carries no replica count."""
    deployment = _one(rendered, "Deployment", "weather-api")
    assert "replicas" not in deployment["spec"]
    hpa = _one(rendered, "HorizontalPodAutoscaler", "weather-api")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "weather-api"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (4, 10)
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["averageUtilization"] == 70
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert hpa["spec"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["requests"]["cpu"]
    spread = pod["topologySpreadConstraints"]
    assert spread
    assert {c["whenUnsatisfiable"] for c in spread} == {"ScheduleAnyway"}
    pdb = _one(rendered, "PodDisruptionBudget", "weather-api")
    assert (pdb["apiVersion"], pdb["spec"]["maxUnavailable"]) == ("policy/v1", 1)


def test_service_talks_to_the_stub(rendered: list[dict[str, Any]]) -> None:
    """The service's settings point at the in-cluster stub's Service and port."""
    configmaps = [o for o in rendered if o["kind"] == "ConfigMap"]
    settings = next(c for c in configmaps if c["metadata"]["name"].startswith("weather-api-"))
    url = settings["data"]["WEATHER_API_UPSTREAM_URL"]
    match = re.fullmatch(r"http://([a-z0-9-]+):(\d+)", url)
    assert match, url
    host, port = match.groups()
    stub = _one(rendered, "Service", host)
    assert int(port) in [p["port"] for p in stub["spec"]["ports"]]
    args = _one(rendered, "Deployment", "weather-stub")["spec"]["template"]["spec"]
    assert args["containers"][0]["args"][0] == "stub"


def test_traefik_matches_the_pinned_crds(rendered: list[dict[str, Any]]) -> None:
    """Traefik's image and the CRDs `make deploy-loadtest` installs are the same release."""
    sys.path.insert(0, str(REPO / "tools"))
    try:
        from manifest_gate import crds
    finally:
        sys.path.remove(str(REPO / "tools"))
    traefik = _one(rendered, "Deployment", "traefik")["spec"]["template"]["spec"]
    image = traefik["containers"][0]["image"]
    tag = image.rsplit(":", 1)[1]
    assert re.fullmatch(r"v3\.\d+\.\d+", tag), image
    assert all(f"/{tag}/" in pin.url for pin in crds.PINNED)
    args = traefik["containers"][0]["args"]
    assert not any(a.startswith("--api") for a in args), "no dashboard or API"


def test_readme_commands_match_the_manifests(rendered: list[dict[str, Any]]) -> None:
    """Every image, namespace and object docs/kubernetes.md's walkthrough names is one the overlay has."""
    section = _readme_section()
    namespaces = {o["metadata"].get("namespace") for o in rendered} - {None}
    assert set(re.findall(r"kubectl -n (\S+)", section)) <= namespaces
    built = set(re.findall(r"minikube image build -t (\S+)", section))
    pods = [o for o in rendered if o["kind"] in {"Deployment", "Job"}]
    images = {
        c["image"]
        for o in pods
        for key in ("containers", "initContainers")
        for c in o["spec"]["template"]["spec"].get(key, [])
    }
    assert built == {i for i in images if not i.startswith(("traefik:", "redis:"))}
    stages = re.findall(r"^FROM \S+ AS (\S+)$", (REPO / "Dockerfile").read_text(), re.M)
    assert set(re.findall(r"--build-opt=target=(\S+)", section)) <= set(stages)
    kinds = {"deployment": "Deployment", "job": "Job", "service": "Service"}
    for kind, name in re.findall(r"\b(deployment|job|service)/([a-z0-9-]+)", section):
        _one(rendered, kinds[kind], name)
    for kind, name in re.findall(r"\bget (hpa|job|service) ([a-z0-9-]+)", section):
        full = {"hpa": "HorizontalPodAutoscaler", "job": "Job", "service": "Service"}[kind]
        _one(rendered, full, name)
    assert "make deploy-loadtest" in section
    assert "kubectl apply -k kustomize/overlays/loadtest" in section


FAKE_KUBECTL = """\
    #!{python}
    # A stand-in kubectl: records each call, answers like a cluster that needs the CRDs first.
    import json, os, re, sys
    args = sys.argv[1:]
    state = os.environ["FAKE_STATE"]
    with open(os.path.join(state, "calls"), "a") as log:
        log.write(json.dumps(args) + "\\n")
    words = " ".join(args)
    if args[:2] == ["config", "current-context"]:
        print("minikube")
    elif "--server-side" in args:
        text = open(args[args.index("-f") + 1]).read()
        for name in re.findall(r"^  name: (\\S+\\.traefik\\.io)$", text, re.M):
            print("customresourcedefinition.apiextensions.k8s.io/" + name)
    elif "get job" in words:
        if os.environ.get("FAKE_JOB") != "1":
            sys.exit('Error from server (NotFound): jobs.batch "locust-master" not found')
        print("job.batch/locust-master")
    elif args[:2] == ["apply", "-k"]:
        tries = os.path.join(state, "applies")
        n = int(open(tries).read()) if os.path.exists(tries) else 0
        open(tries, "w").write(str(n + 1))
        if n < int(os.environ.get("FAKE_APPLY_FAILS", "0")):
            sys.exit(os.environ["FAKE_APPLY_ERROR"])
        print("ingressroute.traefik.io/weather-api created")
"""

NO_MATCHES = (
    'error: resource mapping not found for name: "weather-api" namespace: "weather-loadtest" '
    'from "kustomize/overlays/loadtest": no matches for kind "IngressRoute" in version '
    '"traefik.io/v1alpha1"\nensure CRDs are installed first'
)


def _deploy(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "kubectl"
    fake.write_text(textwrap.dedent(FAKE_KUBECTL.format(python=sys.executable)))
    fake.chmod(0o755)
    run = subprocess.run(
        [str(REPO / "scripts" / "deploy-loadtest")],
        cwd=REPO,
        env={
            **os.environ,
            "KUBECTL": str(fake),
            "PYTHON": sys.executable,
            "FAKE_STATE": str(tmp_path),
            "FAKE_APPLY_ERROR": NO_MATCHES,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    calls_file = tmp_path / "calls"
    calls = (
        [json.loads(line) for line in calls_file.read_text().splitlines()]
        if calls_file.exists()
        else []
    )
    return run, calls


def test_deploy_installs_crds_before_the_overlay(tmp_path: Path) -> None:
    """CRDs server-side, established, discovery refreshed; the overlay retried past #1117."""
    run, calls = _deploy(tmp_path, FAKE_JOB="1", FAKE_APPLY_FAILS="1")
    assert run.returncode == 0, run.stderr
    verbs = [" ".join(c[:2]) for c in calls]
    server_side = next(c for c in calls if "--server-side" in c)
    assert Path(server_side[server_side.index("-f") + 1]).name == "traefik-v3.7.9.yml"
    wait = next(c for c in calls if c[0] == "wait")
    assert "--for=condition=Established" in wait
    assert "customresourcedefinition.apiextensions.k8s.io/ingressroutes.traefik.io" in wait
    assert "customresourcedefinition.apiextensions.k8s.io/middlewares.traefik.io" in wait
    order = [
        verbs.index("apply --server-side"),
        verbs.index("wait --for=condition=Established"),
        verbs.index("api-resources --api-group=traefik.io"),
        verbs.index("apply -k"),
    ]
    assert order == sorted(order)
    deleted = [c for c in calls if "delete" in c]
    assert deleted == [["-n", "weather-loadtest", "delete", "job", "locust-master", "--wait=true"]]
    assert verbs.index("apply -k") > calls.index(deleted[0])
    assert verbs.count("apply -k") == 2  # the first one met the race and was retried
    rollouts = [c[4] for c in calls if c[2:4] == ["rollout", "status"]]
    assert rollouts == [
        "deployment/weather-stub",
        "deployment/weather-api",
        "deployment/traefik",
        "deployment/locust-worker",
    ]


def test_deploy_stops_on_other_errors(tmp_path: Path) -> None:
    """An apply error that is not the CRD race fails the deploy at once, without retries."""
    run, calls = _deploy(
        tmp_path, FAKE_APPLY_FAILS="5", FAKE_APPLY_ERROR='error: namespaces "x" is forbidden'
    )
    assert run.returncode == 1
    assert "kubectl apply -k kustomize/overlays/loadtest failed" in run.stderr
    assert [c[:2] for c in calls].count(["apply", "-k"]) == 1
    assert not any(c[2:4] == ["rollout", "status"] for c in calls)
    assert not any("delete" in c for c in calls)  # no previous Job to delete
