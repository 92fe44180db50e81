"""Fixtures for the load test's tests: run loadtest/run.py (or make) briefly, keep its output."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "loadtest" / "run.py"
# Short and light: a few seconds of a few users, one service process; every run ends well
# within the timeout (start-up ~5 s, Locust's run, shutdown ~2 s).
SHORT = ("--run-time", "5s", "--users", "10", "--spawn-rate", "10", "--processes", "1")
TIMEOUT = 60


@dataclass(frozen=True)
class Finished:
    """A finished load-test run: its exit status, everything it printed, its report folder."""

    returncode: int
    output: str
    reports: Path | None


def only_run_dir(reports_dir: Path) -> Path | None:
    """The one `<timestamp>-<profile>` folder a run made under `reports_dir`."""
    runs = sorted(reports_dir.iterdir()) if reports_dir.exists() else []
    return runs[0] if len(runs) == 1 else None


@pytest.fixture
def reports_dir(tmp_path: Path) -> Path:
    """Where this test's run writes its reports."""
    return tmp_path / "reports"


@pytest.fixture
def run_loadtest(reports_dir: Path) -> Callable[..., Finished]:
    """Run `loadtest/run.py ARGS` to the end (Locust options go after `--`)."""

    def run(*args: str) -> Finished:
        result = subprocess.run(
            [sys.executable, str(RUNNER), "--reports-dir", str(reports_dir), *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        return Finished(result.returncode, result.stdout + result.stderr, only_run_dir(reports_dir))

    return run


@pytest.fixture
def run_make(reports_dir: Path) -> Callable[..., Finished]:
    """Run `make loadtest VAR=value ...` to the end, reports going to this test's folder."""

    def run(*variables: str) -> Finished:
        result = subprocess.run(
            [
                "make",
                "--no-print-directory",
                "loadtest",
                *variables,
                f"ARGS=--reports-dir {reports_dir}",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        return Finished(result.returncode, result.stdout + result.stderr, only_run_dir(reports_dir))

    return run


@pytest.fixture(scope="session")
def runner_module() -> ModuleType:
    """loadtest/run.py imported as a module, with its folder on the path as when it runs (it
    imports its siblings: processes.py, procfs.py, summary.py; no third-party package)."""
    spec = importlib.util.spec_from_file_location("loadtest_run", RUNNER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    sys.path.insert(0, str(RUNNER.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(RUNNER.parent))
    return module
