"""The load-test overlay: what it renders, what docs/kubernetes.md's walkthrough says about it,
and the order in which `make deploy-loadtest` and `make loadtest-result` talk to the cluster
(against a stand-in kubectl)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from renders import KUBECTL, render

REPO = Path(__file__).resolve().parents[2]
OVERLAY = REPO / "kustomize" / "overlays" / "loadtest"

# The first test builds .venv-manifests (up to 1200 s on a fresh clone), gate runs take 600.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    """The overlay as the pinned kustomize renders it."""
    return render(OVERLAY)


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
    tag = image.split("@", 1)[0].rsplit(":", 1)[1]
    assert re.fullmatch(r"v3\.\d+\.\d+", tag), image
    assert all(f"/{tag}/" in pin.url for pin in crds.PINNED if pin.deploy)
    args = traefik["containers"][0]["args"]
    assert not any(a.startswith("--api") for a in args), "no dashboard or API"


def test_third_party_images_are_pinned_by_digest(rendered: list[dict[str, Any]]) -> None:
    """Every image that is not ours (Traefik, Redis, ...) names its tag and a sha256 digest."""
    pods = [o for o in rendered if o["kind"] in {"Deployment", "Job"}]
    images = {
        c["image"]
        for o in pods
        for key in ("containers", "initContainers")
        for c in o["spec"]["template"]["spec"].get(key, [])
    }
    theirs = {i for i in images if not i.startswith("weather-api")}
    assert theirs  # Traefik at least
    for image in theirs:
        assert re.fullmatch(r"[a-z0-9./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image), image
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", (REPO / "Dockerfile").read_text(), re.M)
    assert base
    assert re.fullmatch(r"python:[\w.-]+@sha256:[0-9a-f]{64}", base.group(1))


def test_workers_end_with_the_run(rendered: list[dict[str, Any]]) -> None:
    """The workers are a Job of as many pods as the master expects, never restarted."""
    workers = _one(rendered, "Job", "locust-worker")
    master = _one(rendered, "Job", "locust-master")
    assert not [
        o for o in rendered if o["kind"] == "Deployment" and "locust" in o["metadata"]["name"]
    ]
    spec = workers["spec"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert spec["completionMode"] == "Indexed"
    assert spec["backoffLimitPerIndex"] == 0  # one lost worker does not stop the others
    assert spec["activeDeadlineSeconds"] >= master["spec"]["activeDeadlineSeconds"]
    args = master["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--expect-workers={spec['parallelism']}" in args
    assert spec["completions"] == spec["parallelism"]


def _selects(service: dict[str, Any], workload: dict[str, Any]) -> bool:
    selector = service["spec"].get("selector") or {}
    labels = workload["spec"]["template"]["metadata"].get("labels") or {}
    return bool(selector) and selector.items() <= labels.items()


def test_locust_reaches_its_master_and_the_service(rendered: list[dict[str, Any]]) -> None:
    """Workers dial a Service that selects the master on Locust's port; the master's LOCUST_HOST
    is Traefik's Service, under a Host an IngressRoute matches (else every request is a 404)."""
    master = _one(rendered, "Job", "locust-master")
    worker = _one(rendered, "Job", "locust-worker")
    args = dict(
        a.partition("=")[::2] for a in worker["spec"]["template"]["spec"]["containers"][0]["args"]
    )
    master_service = _one(rendered, "Service", args["--master-host"])
    assert _selects(master_service, master)
    assert int(args["--master-port"]) in {p["port"] for p in master_service["spec"]["ports"]}
    [env_from] = master["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    settings = _one(rendered, "ConfigMap", env_from["configMapRef"]["name"])
    target = urlsplit(settings["data"]["LOCUST_HOST"])
    assert target.hostname
    traefik_service = _one(rendered, "Service", target.hostname.split(".")[0])
    assert _selects(traefik_service, _one(rendered, "Deployment", "traefik"))
    assert (target.port or 80) in {p["port"] for p in traefik_service["spec"]["ports"]}
    matches = [
        r["match"] for o in rendered if o["kind"] == "IngressRoute" for r in o["spec"]["routes"]
    ]
    assert any(f"Host(`{target.hostname}`)" in m for m in matches), matches


def _mib(size: str) -> int:
    match = re.fullmatch(r"(\d+)(Mi|mb)", size)  # Kubernetes' Mi and Redis' mb: both 2**20
    assert match, f"{size}: not in Mi/mb"
    return int(match[1])


def test_redis_is_not_killed_before_it_evicts() -> None:
    """Redis' memory limit holds 1.5 x --maxmemory (its own structures and buffers above the
    data) plus its memory-backed /data, so the kernel does not kill it before it evicts."""
    objs = render(REPO / "kustomize" / "overlays" / "loadtest-shared-cache")
    pod = _one(objs, "Deployment", "weather-redis")["spec"]["template"]["spec"]
    [redis] = pod["containers"]
    maxmemory = _mib(redis["args"][redis["args"].index("--maxmemory") + 1])
    in_memory = {
        v["name"]: _mib(v["emptyDir"]["sizeLimit"])
        for v in pod["volumes"]
        if v.get("emptyDir", {}).get("medium") == "Memory"
    }
    mounted = sum(in_memory.get(m["name"], 0) for m in redis["volumeMounts"])
    assert _mib(redis["resources"]["limits"]["memory"]) >= 1.5 * maxmemory + mounted


def test_traefik_rbac_stays_in_the_namespace(rendered: list[dict[str, Any]]) -> None:
    """Traefik has a Role and RoleBinding, so it watches its own namespace only and looks up no
    cluster-scoped kind (a Node watch would fail with 403 and the provider never sync)."""
    assert not [o for o in rendered if o["kind"] in {"ClusterRole", "ClusterRoleBinding"}]
    binding = _one(rendered, "RoleBinding", "traefik")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "traefik",
    }
    assert binding["subjects"][0]["namespace"] == "weather-loadtest"
    args = _one(rendered, "Deployment", "traefik")["spec"]["template"]["spec"]["containers"][0]
    assert "--providers.kubernetescrd.disableClusterScopeResources=true" in args["args"]
    assert "--providers.kubernetescrd.namespaces=$(POD_NAMESPACE)" in args["args"]
    assert {
        "name": "POD_NAMESPACE",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    } in args["env"]


def test_readme_commands_match_the_manifests(rendered: list[dict[str, Any]]) -> None:
    """Every image, namespace and object the docs' walkthrough names is one the overlay has."""
    section = _readme_section()
    namespaces = {o["metadata"].get("namespace") for o in rendered} - {None}
    assert set(re.findall(r"kubectl -n (\S+)", section)) <= namespaces
    pods = [o for o in rendered if o["kind"] in {"Deployment", "Job"}]
    images = {
        c["image"]
        for o in pods
        for key in ("containers", "initContainers")
        for c in o["spec"]["template"]["spec"].get(key, [])
    }
    # `make images` builds exactly the overlay's own images (scripts/build-images).
    ours = {i.split(":")[0] for i in images if not i.startswith(("traefik:", "redis:"))}
    assert ours == {"weather-api", "weather-api-loadtest"}
    build = (REPO / "scripts" / "build-images").read_text()
    for name in ours:
        assert f'"{name}:$tag"' in build
    assert "make images" in section
    stages = re.findall(r"^FROM \S+ AS (\S+)$", (REPO / "Dockerfile").read_text(), re.M)
    assert set(re.findall(r"--build-opt=target=(\S+)", build)) <= set(stages)
    kinds = {"deployment": "Deployment", "job": "Job", "service": "Service"}
    for kind, name in re.findall(r"\b(deployment|job|service)/([a-z0-9-]+)", section):
        _one(rendered, kinds[kind], name)
    for kind, name in re.findall(r"\bget (hpa|job|service) ([a-z0-9-]+)", section):
        full = {"hpa": "HorizontalPodAutoscaler", "job": "Job", "service": "Service"}[kind]
        _one(rendered, full, name)
    assert "make deploy-loadtest" in section
    assert "make loadtest-result" in section
    for step in ("**Deploy.**", "**Watch.**", "**Result.**", "**Second run.**", "**Clean up.**"):
        assert step in section
    assert "wait for the next master" not in section
    assert "kubectl apply -k kustomize/overlays/loadtest" in section


def test_walkthrough_profile_is_the_gates_budget() -> None:
    """The docs' load-test profile (its own, 4 CPUs, 8g) is the one the requests budget assumes."""
    sys.path.insert(0, str(REPO / "tools"))
    try:
        from manifest_gate.invariants import PROFILE
    finally:
        sys.path.remove(str(REPO / "tools"))
    section = _readme_section()
    [start] = re.findall(r"^minikube start (.*?)\s+#", section, re.M)
    assert "-p weather-loadtest" in start
    cpus = re.search(r"--cpus=(\d+)", start)
    memory = re.search(r"--memory=(\d+)g", start)
    assert cpus, start
    assert memory, start
    assert (float(cpus.group(1)), int(memory.group(1)) * 2**30) == (
        PROFILE["cpu"],
        PROFILE["memory"],
    )
    assert "--cni=calico" in start
    # Every minikube command of the walkthrough names that profile.
    for line in re.findall(r"^minikube .*$", section, re.M):
        assert "-p weather-loadtest" in line, line


FAKE_KUBECTL = """\
    #!{python}
    # A stand-in kubectl: records each call, answers like a cluster that needs the CRDs first.
    import json, os, re, subprocess, sys
    args = sys.argv[1:]
    state = os.environ["FAKE_STATE"]
    with open(os.path.join(state, "calls"), "a") as log:
        log.write(json.dumps(args) + "\\n")
    words = " ".join(args)
    if args[:2] == ["config", "current-context"]:
        print(os.environ.get("FAKE_CONTEXT", "minikube"))
    elif args[:1] == ["kustomize"]:
        sys.exit(subprocess.run([{kubectl!r}, *args]).returncode)
    elif "get apiservice" in words:
        print(os.environ.get("FAKE_METRICS", "True"), end="")
    elif "--server-side" in args:
        text = open(args[args.index("-f") + 1]).read()
        for name in re.findall(r"^  name: (\\S+\\.traefik\\.io)$", text, re.M):
            print("customresourcedefinition.apiextensions.k8s.io/" + name)
    elif "get job" in words:
        if os.environ.get("FAKE_JOB") != "1":
            sys.exit('Error from server (NotFound): jobs.batch "locust-master" not found')
        if "json" in args:
            print(open(os.path.join(state, "job.json")).read())
        else:
            print("job.batch/" + args[args.index("job") + 1])
    elif args[:2] == ["apply", "-k"]:
        tries = os.path.join(state, "applies")
        n = int(open(tries).read()) if os.path.exists(tries) else 0
        open(tries, "w").write(str(n + 1))
        if n < int(os.environ.get("FAKE_APPLY_FAILS", "0")):
            sys.exit(os.environ["FAKE_APPLY_ERROR"])
        with open(os.path.join(state, "applied.yaml"), "w") as applied:
            subprocess.run([{kubectl!r}, "kustomize", args[2]], stdout=applied, check=True)
        print("ingressroute.traefik.io/weather-api created")
    elif "get hpa weather-api -o json" in words:
        print(json.dumps(json.load(open(os.path.join(state, "hpa.json")))))
    elif "get events" in words:
        print(json.dumps(json.load(open(os.path.join(state, "events.json")))))
    elif "logs job/locust-master -c wait-for-target" in words:
        print(open(os.path.join(state, "init.log")).read())
    elif "logs job/locust-master" in words:
        if not os.path.exists(os.path.join(state, "locust.log")):
            sys.exit('container "locust" is waiting to start: PodInitializing')
        print(open(os.path.join(state, "locust.log")).read())
"""

FAKE_MINIKUBE = """\
    #!/bin/sh
    # A stand-in minikube: `profile list -o json` names FAKE_PROFILES, `image ls` lists FAKE_IMAGES.
    if [ "$1" = profile ]; then
        printf '{"invalid": [], "valid": ['
        sep=
        for name in ${FAKE_PROFILES-minikube}; do
            printf '%s{"Name": "%s"}' "$sep" "$name"; sep=,
        done
        printf ']}\\n'
        exit 0
    fi
    for image in $FAKE_IMAGES; do echo "docker.io/library/$image"; done
"""

NO_MATCHES = (
    'error: resource mapping not found for name: "weather-api" namespace: "weather-loadtest" '
    'from "kustomize/overlays/loadtest": no matches for kind "IngressRoute" in version '
    '"traefik.io/v1alpha1"\nensure CRDs are installed first'
)


def _deploy(
    tmp_path: Path, script: str = "deploy-loadtest", **env: str
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "kubectl"
    fake.write_text(
        textwrap.dedent(FAKE_KUBECTL.format(python=sys.executable, kubectl=str(KUBECTL)))
    )
    fake.chmod(0o755)
    minikube = bin_dir / "minikube"
    minikube.write_text(textwrap.dedent(FAKE_MINIKUBE))
    minikube.chmod(0o755)
    run = subprocess.run(
        [str(REPO / "scripts" / script)],
        cwd=REPO,
        env={
            **os.environ,
            "KUBECTL": str(fake),
            "MINIKUBE": str(minikube),
            "FAKE_IMAGES": "weather-api:dev weather-api-loadtest:dev",
            "PYTHON": sys.executable,
            "FAKE_STATE": str(tmp_path),
            "FAKE_APPLY_ERROR": NO_MATCHES,
            "IMAGE_TAG": "dev",
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
    assert deleted == [
        [
            "-n",
            "weather-loadtest",
            "delete",
            "job",
            "locust-master",
            "--cascade=foreground",
            "--wait=true",
        ],
        [
            "-n",
            "weather-loadtest",
            "delete",
            "job",
            "locust-worker",
            "--cascade=foreground",
            "--wait=true",
        ],
    ]
    assert verbs.index("apply -k") > calls.index(deleted[-1])
    assert verbs.count("apply -k") == 2  # the first one met the race and was retried
    rollouts = sorted(c[4] for c in calls if c[2:4] == ["rollout", "status"])
    assert rollouts == ["deployment/traefik", "deployment/weather-api", "deployment/weather-stub"]
    assert "images on the node: weather-api-loadtest:dev weather-api:dev" in run.stderr


def test_deploy_rolls_out_the_commit_tag(tmp_path: Path) -> None:
    """A deploy applies our images at the checkout's tag, so a rebuild of other code rolls out."""
    tag = subprocess.run(
        [str(REPO / "scripts" / "image-tag")],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if k != "IMAGE_TAG"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{12}(-dirty-[0-9a-f]{8})?", tag), tag
    run, calls = _deploy(
        tmp_path,
        FAKE_IMAGES=f"weather-api:{tag} weather-api-loadtest:{tag}",
        IMAGE_TAG=tag,
    )
    assert run.returncode == 0, run.stderr
    assert f"images on the node: weather-api-loadtest:{tag} weather-api:{tag}" in run.stderr
    # What was applied is the overlay with our images at the tag, not at the overlay's `dev`.
    applied = [d for d in yaml.safe_load_all((tmp_path / "applied.yaml").read_text()) if d]
    images = {
        c["image"]
        for o in applied
        if o["kind"] in {"Deployment", "Job"}
        for key in ("containers", "initContainers")
        for c in o["spec"]["template"]["spec"].get(key, [])
    }
    ours = {i for i in images if i.startswith("weather-api")}
    assert ours == {f"weather-api:{tag}", f"weather-api-loadtest:{tag}"}
    assert {o["metadata"].get("namespace") for o in applied} == {"weather-loadtest", None}
    [apply] = [c for c in calls if c[:2] == ["apply", "-k"]]
    assert not Path(REPO / apply[2]).exists()  # the throw-away wrapper is gone afterwards


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


def test_deploy_stops_without_the_metrics_api(tmp_path: Path) -> None:
    """No metrics-server: the deploy says how to enable it and applies nothing."""
    run, calls = _deploy(tmp_path, FAKE_METRICS="False")
    assert run.returncode == 1
    assert "minikube addons enable metrics-server" in run.stderr
    assert not any(c[:1] == ["apply"] for c in calls)


def test_deploy_stops_when_an_image_is_not_on_minikube(tmp_path: Path) -> None:
    """A locally built image missing from the node fails at once, with the build command."""
    run, calls = _deploy(tmp_path, FAKE_IMAGES="weather-api:dev")
    assert run.returncode == 1
    assert "image(s) not on the minikube node: weather-api-loadtest:dev" in run.stderr
    assert "make images" in run.stderr
    assert not any(c[:1] == ["apply"] for c in calls)


def test_deploy_skips_the_image_check_elsewhere(tmp_path: Path) -> None:
    """On another context (kind, say) the image check is skipped, and says so."""
    run, _ = _deploy(tmp_path, FAKE_CONTEXT="kind-kind", FAKE_IMAGES="")
    assert run.returncode == 0, run.stderr
    assert "image check skipped: context kind-kind is not a minikube profile" in run.stderr


def test_deploy_checks_images_on_any_minikube_profile(tmp_path: Path) -> None:
    """A context named after any minikube profile (`-p weather-loadtest`) gets the image check."""
    run, _ = _deploy(
        tmp_path,
        FAKE_CONTEXT="weather-loadtest",
        FAKE_PROFILES="weather-dev weather-loadtest",
        FAKE_IMAGES="weather-api:dev",
    )
    assert run.returncode == 1
    assert "image(s) not on the minikube node: weather-api-loadtest:dev" in run.stderr


LOCUST_LOG = """\
progress: 300 users, 271.0 rps, 0.00% failed
Type     Name                 # reqs      # fails |    Avg     Min     Max    Med |   req/s
GET      /[city]/[country]/    81000     0(0.00%) |     95      40     900     90 |  270.00
Type     Name                 50%    66%    75%    80%    90%    95%    98%    99%
GET      /[city]/[country]/    90    100    110    120    150    200    300    400
thresholds (ci) met
"""


def _result_state(
    tmp_path: Path,
    condition: str,
    *,
    cpu: int | None = 65,
    scaled: bool = True,
    annotations: dict[str, str] | None = None,
) -> None:
    start = "2026-01-01T10:00:00Z"
    job = {
        "status": {
            "startTime": start,
            "completionTime": "2026-01-01T10:06:10Z",
            "conditions": [{"type": condition, "status": "True", "reason": "BackoffLimitExceeded"}]
            if condition
            else [],
        }
    }
    hpa = {
        "metadata": {"annotations": annotations or {}},
        "spec": {"minReplicas": 4, "maxReplicas": 10},
        "status": {
            "currentReplicas": 8 if scaled else 4,
            # What an HPA without metrics-server shows: no current metrics at all.
            "currentMetrics": []
            if cpu is None
            else [{"resource": {"current": {"averageUtilization": cpu}}}],
        },
    }
    events = {
        "items": [
            {
                "lastTimestamp": "2026-01-01T09:58:00Z",
                "message": "New size: 4; reason: Current number of replicas below Spec.MinReplicas",
            },
            *(
                [
                    {
                        "lastTimestamp": "2026-01-01T10:01:05Z",
                        "message": "New size: 8; reason: cpu resource utilization (percentage "
                        "of request) above target",
                    }
                ]
                if scaled
                else []
            ),
        ]
    }
    for name, value in (("job.json", job), ("hpa.json", hpa), ("events.json", events)):
        (tmp_path / name).write_text(json.dumps(value))
    (tmp_path / "locust.log").write_text(LOCUST_LOG)


def test_result_passes_on_a_complete_job(tmp_path: Path) -> None:
    """A Complete Job: Locust's summary, the HPA going 4 -> 8 during the run, PASS, exit 0."""
    _result_state(tmp_path, "Complete")
    run, _ = _deploy(tmp_path, "loadtest-result", FAKE_JOB="1", RESULT_POLL="0")
    assert run.returncode == 0, run.stderr
    assert "thresholds (ci) met" in run.stdout
    assert "GET      /[city]/[country]/    81000" in run.stdout
    assert "4 at the start -> 8 at +1:05 (cpu resource utilization" in run.stdout
    assert "PASS: job/locust-master Complete" in run.stdout


def test_result_fails_on_a_failed_job(tmp_path: Path) -> None:
    """A Failed Job (a threshold broke): the verdict says so and the exit code is 1."""
    _result_state(tmp_path, "Failed")
    run, _ = _deploy(tmp_path, "loadtest-result", FAKE_JOB="1", RESULT_POLL="0")
    assert run.returncode == 1
    assert "FAIL: job/locust-master Failed (BackoffLimitExceeded)" in run.stdout


def test_result_without_a_job(tmp_path: Path) -> None:
    """No Job to wait for: say to deploy first, exit 1, instead of waiting for nothing."""
    run, _ = _deploy(tmp_path, "loadtest-result", RESULT_POLL="0")
    assert run.returncode == 1
    assert "run `make deploy-loadtest` first" in run.stderr


def test_result_fails_without_cpu_figures(tmp_path: Path) -> None:
    """A Complete Job whose HPA never had a CPU figure (no metrics-server) is a FAIL, exit 1."""
    _result_state(tmp_path, "Complete", cpu=None)
    run, _ = _deploy(tmp_path, "loadtest-result", FAKE_JOB="1", RESULT_POLL="0")
    assert run.returncode == 1, run.stdout
    assert "FAIL: the HPA weather-api never reported CPU" in run.stdout
    assert "PASS" not in run.stdout


def test_result_fails_when_the_hpa_never_scaled(tmp_path: Path) -> None:
    """A Complete Job with the HPA at minReplicas throughout is a FAIL naming minReplicas."""
    _result_state(tmp_path, "Complete", cpu=40, scaled=False)
    run, _ = _deploy(tmp_path, "loadtest-result", FAKE_JOB="1", RESULT_POLL="0")
    assert run.returncode == 1, run.stdout
    assert "4 at the start\n(no rescale during the run)" in run.stdout
    assert "peak 4 replicas (HPA range 4 to 10)" in run.stdout
    assert "FAIL: the HPA weather-api never scaled above minReplicas (4)" in run.stdout


def test_result_passes_unscaled_when_the_overlay_expects_no_scale_up(tmp_path: Path) -> None:
    """The overlay's annotation on the HPA lets an unscaled run pass, but not one without CPU."""
    switch = {"weather-api.dev/loadtest-expects-scale-up": "false"}
    _result_state(tmp_path, "Complete", cpu=12, scaled=False, annotations=switch)
    run, _ = _deploy(tmp_path, "loadtest-result", FAKE_JOB="1", RESULT_POLL="0")
    assert run.returncode == 0, run.stdout
    assert "PASS: job/locust-master Complete" in run.stdout
    assert "the overlay expects no scale-up" in run.stdout


def test_result_switch_does_not_excuse_missing_cpu_figures(tmp_path: Path) -> None:
    """Even where no scale-up is expected, an HPA without CPU figures fails the verdict."""
    switch = {"weather-api.dev/loadtest-expects-scale-up": "false"}
    _result_state(tmp_path, "Complete", cpu=None, scaled=False, annotations=switch)
    run, _ = _deploy(tmp_path, "loadtest-result", FAKE_JOB="1", RESULT_POLL="0")
    assert run.returncode == 1, run.stdout
    assert "FAIL: the HPA weather-api never reported CPU" in run.stdout


def test_result_shows_the_init_log_when_locust_never_started(tmp_path: Path) -> None:
    """A master stuck in its init container: the verdict shows that container's log."""
    _result_state(tmp_path, "")
    (tmp_path / "locust.log").unlink()
    (tmp_path / "init.log").write_text("waiting for http://traefik/readyz: 503 (0/3)\n")
    run, _ = _deploy(tmp_path, "loadtest-result", FAKE_JOB="1", RESULT_POLL="0", RESULT_TIMEOUT="0")
    assert run.returncode == 1
    assert "Locust never started: the init container wait-for-target says" in run.stdout
    assert "waiting for http://traefik/readyz: 503 (0/3)" in run.stdout
    assert "FAIL: job/locust-master neither Complete nor Failed after 0 s" in run.stdout
