"""scripts/cluster-diagnostics, what CI uploads when the kind job fails or is cancelled: every
container's log of every pod, init containers and previous runs included, against a stand-in
kubectl."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

FAKE_KUBECTL = """\
    #!{python}
    # A stand-in kubectl: one namespace with a master that never left its init container and
    # a service pod whose container restarted once.
    import sys
    args = sys.argv[1:]
    words = " ".join(args)
    if args[:1] == ["-n"] and args[1] != "weather-loadtest":
        sys.exit('Error from server (NotFound): namespaces "' + args[1] + '" not found')
    if "get pods -o name" in words:
        print("pod/locust-master-x\\npod/weather-api-y")
    elif "jsonpath=" in words:
        pod = args[3]
        print("wait-for-target locust" if "locust" in pod else " weather-api", end="")
    elif args[2:3] == ["logs"]:
        pod, container = args[3], args[args.index("-c") + 1]
        if "--previous" in args:
            if pod == "pod/weather-api-y":
                print("Traceback: the run before the restart")
            else:
                sys.exit('previous terminated container "' + container + '" in pod not found')
        else:
            print(f"log of {{container}} in {{pod}}")
    else:
        print("output of: " + words)
"""


def test_collects_every_containers_logs(tmp_path: Path) -> None:
    """Init and restarted containers' logs are collected; a missing namespace is not fatal."""
    fake = tmp_path / "kubectl"
    fake.write_text(textwrap.dedent(FAKE_KUBECTL.format(python=sys.executable)))
    fake.chmod(0o755)
    out = tmp_path / "diagnostics"
    run = subprocess.run(
        [
            str(REPO / "scripts" / "cluster-diagnostics"),
            str(out),
            "weather-dev",
            "weather-loadtest",
        ],
        env={**os.environ, "KUBECTL": str(fake)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    ns = out / "weather-loadtest"
    init = (ns / "locust-master-x.wait-for-target.log").read_text()
    assert init == "log of wait-for-target in pod/locust-master-x\n"
    assert (ns / "locust-master-x.locust.log").is_file()
    assert not (ns / "locust-master-x.locust.previous.log").exists()
    previous = (ns / "weather-api-y.weather-api.previous.log").read_text()
    assert "the run before the restart" in previous
    assert "describe pod/weather-api-y" in (ns / "weather-api-y.describe.txt").read_text()
    assert "get events -A" in (out / "events-all.txt").read_text()
    assert "not found" in (out / "weather-dev" / "get.txt").read_text()
