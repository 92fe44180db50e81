"""The first hour on a new machine: the Makefile with an old Python, a stale .venv, Ubuntu's
Chromium snap stub beside a real Chrome, and a user who is not root.

Each test runs `make` (or a script of ours) in a subprocess with a time limit, on a copy of
the Makefile in a temporary directory, with stand-ins for Python and the browsers on PATH:
nothing here installs a package, builds a real virtualenv or starts a browser.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make")
BASH = shutil.which("bash")

pytestmark = pytest.mark.skipif(MAKE is None or BASH is None, reason="needs make and bash")

FAKE_PYTHON = """#!/bin/bash
# A stand-in for Python {version}: the Makefile's version probe, `-m venv DIR`, `-m pip`.
case "$1" in
  -c) echo "{version} {verdict}" ;;
  -m) if [ "$2" = venv ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi ;;
esac
exit 0
"""
SNAP_STUB = """#!/bin/sh
echo "Command '/usr/bin/chromium' requires the chromium snap to be installed." >&2
echo "Please install it with: snap install chromium" >&2
exit 1
"""


def executable(path: Path, text: str) -> Path:
    """Write `text` to `path` and make it executable."""
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_python(directory: Path, version: str) -> Path:
    """An executable that answers the Makefile as Python `version` would."""
    verdict = "ok" if tuple(map(int, version.split("."))) >= (3, 11) else "old"
    return executable(
        directory / f"python{version}", FAKE_PYTHON.format(version=version, verdict=verdict)
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of what the Makefile's venv and test targets read, in a directory of its own."""
    return copy_project(tmp_path / "project")


def copy_project(copy: Path) -> Path:
    """Copy the Makefile and what its venv and test targets read to `copy`."""
    (copy / "requirements").mkdir(parents=True)
    (copy / "scripts").mkdir()
    for name in ("Makefile", "pyproject.toml", "requirements/constraints.txt"):
        shutil.copy(ROOT / name, copy / name)
    for name in ("find-chrome", "ensure-debian-packages"):
        shutil.copy(ROOT / "scripts" / name, copy / "scripts" / name)
    return copy


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A PATH directory with bash, make and the few tools their recipes call, and no Python
    and no browser, for the stand-ins to join."""
    return tool_dir(tmp_path / "bin")


def tool_dir(directory: Path) -> Path:
    """Make `directory` a PATH of bash, make and the tools the recipes call, and nothing else."""
    directory.mkdir()
    for name in ("bash", "make", "rm", "mkdir", "cp", "touch", "id"):
        tool = shutil.which(name)
        assert tool is not None, name
        (directory / name).symlink_to(tool)
    return directory


def make(
    project: Path, *args: str, path: str | None = None, user: int | None = None
) -> subprocess.CompletedProcess[str]:
    """`make ARGS` in `project`, as `user` when given, with a time limit."""
    env = {k: v for k, v in os.environ.items() if k not in ("CHROME", "PYTHON", "MAKEFLAGS")}
    if path is not None:
        env["PATH"] = path
    prefix: list[str] = []
    if user is not None:
        setpriv = shutil.which("setpriv")
        assert setpriv is not None
        prefix = [setpriv, f"--reuid={user}", f"--regid={user}", "--clear-groups"]
    assert MAKE is not None
    return subprocess.run(
        [*prefix, MAKE, "--no-print-directory", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def venv_of(project: Path, version: str, bin_dir: Path) -> None:
    """A .venv in `project` made by Python `version`, installed and up to date."""
    python = fake_python(bin_dir, version)
    (project / ".venv" / "bin").mkdir(parents=True)
    shutil.copy(python, project / ".venv" / "bin" / "python")
    (project / ".venv" / ".installed").touch()


# --- Python


def test_a_python_older_than_3_11_is_refused_in_one_line(project: Path, bin_dir: Path) -> None:
    """`make venv` with Python 3.10 says, in one line, to run with PYTHON=python3.12."""
    old = fake_python(bin_dir, "3.10")
    result = make(project, "venv", f"PYTHON={old}", path=str(bin_dir))
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if not line.startswith("make")]
    assert ours == [
        f"weather-api needs Python 3.11 or newer, and {old} is 3.10: "
        "run PYTHON=python3.12 make venv (any python3.11+ will do)"
    ]
    assert not (project / ".venv").exists()


def test_a_venv_made_by_an_old_python_is_rebuilt(project: Path, bin_dir: Path) -> None:
    """A .venv left by Python 3.10 is removed and made again by the Python given."""
    venv_of(project, "3.10", bin_dir)
    new = fake_python(bin_dir, "3.12")
    result = make(project, "venv", f"PYTHON={new}", path=str(bin_dir))
    assert result.returncode == 0, result.stderr
    assert "rebuilding .venv: it was made by a Python that is too old (3.10)" in result.stderr
    assert "3.12" in (project / ".venv/bin/python").read_text(encoding="utf-8")


def test_a_venv_whose_python_is_gone_is_rebuilt(project: Path, bin_dir: Path) -> None:
    """A .venv whose interpreter no longer runs (removed by an upgrade) is made again."""
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").symlink_to(bin_dir / "python3.9-removed")
    (project / ".venv" / ".installed").touch()
    new = fake_python(bin_dir, "3.12")
    result = make(project, "venv", f"PYTHON={new}", path=str(bin_dir))
    assert result.returncode == 0, result.stderr
    assert "it was made by a Python that no longer runs" in result.stderr
    assert "3.12" in (project / ".venv/bin/python").read_text(encoding="utf-8")


def test_a_venv_of_another_python_than_the_one_given_is_rebuilt(
    project: Path, bin_dir: Path
) -> None:
    """PYTHON=python3.12 with a .venv of 3.11 rebuilds it with 3.12."""
    venv_of(project, "3.11", bin_dir)
    new = fake_python(bin_dir, "3.12")
    result = make(project, "venv", f"PYTHON={new}", path=str(bin_dir))
    assert result.returncode == 0, result.stderr
    assert "it was made by Python 3.11, not by" in result.stderr
    assert "3.12" in (project / ".venv/bin/python").read_text(encoding="utf-8")


def test_a_working_venv_is_kept_whatever_python3_is(project: Path, bin_dir: Path) -> None:
    """Without PYTHON, a working 3.12 .venv stays, even where `python3` is 3.10."""
    venv_of(project, "3.12", bin_dir)
    (bin_dir / "python3").symlink_to(fake_python(bin_dir, "3.10"))
    result = make(project, "venv", path=str(bin_dir))
    assert result.returncode == 0, result.stderr
    assert "rebuilding" not in result.stderr
    assert "Nothing to be done" in result.stdout


# --- the browser


def test_find_chrome_skips_the_snap_stub_for_a_real_chrome(bin_dir: Path) -> None:
    """With Ubuntu's `chromium` stub first on PATH and `google-chrome` after it, Chrome wins;
    CHROME, when set, wins over both; a CHROME that is not there is an error."""
    executable(bin_dir / "chromium", SNAP_STUB)
    chrome = executable(bin_dir / "google-chrome", "\x7fELF, as far as this test cares")
    chosen = executable(bin_dir / "my-chrome", "\x7fELF")
    script = str(ROOT / "scripts" / "find-chrome")

    def find(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BASH or "bash", script],
            env={"PATH": str(bin_dir), **env},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    assert find().stdout.strip() == str(chrome)
    assert find(CHROME=str(chosen)).stdout.strip() == str(chosen)
    missing = find(CHROME=str(bin_dir / "nothing"))
    assert missing.returncode == 1
    assert "is not an executable file" in missing.stderr
    (bin_dir / "google-chrome").unlink()
    none = find()
    assert (none.returncode, none.stdout) == (1, "")


def test_make_test_drives_the_chrome_it_finds(project: Path, bin_dir: Path) -> None:
    """`make test` passes the Chrome found past the snap stub to the tests, and does not ask
    for Debian's chromium."""
    executable(bin_dir / "chromium", SNAP_STUB)
    chrome = executable(bin_dir / "google-chrome", "\x7fELF")
    result = make(project, "-n", "test", path=str(bin_dir))
    assert result.returncode == 0, result.stderr
    assert f"CHROME='{chrome}' .venv/bin/pytest" in result.stdout
    assert f"chromium:{chrome} " in result.stdout


# --- not root


def readme_system_line() -> str:
    """The first line of the README's quick start, without its comment."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1]
    first_block = quick_start.split("```sh\n", 1)[1].split("```", 1)[0]
    return first_block.splitlines()[0].split("#")[0].strip()


def test_make_test_as_non_root_prints_the_readme_line() -> None:
    """Without the system packages, `make test` by a user who is not root stops before
    building anything and prints the README's one line, as it is, on a line of its own."""
    user: int | None = None
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:  # pragma: no cover - util-linux is everywhere
            pytest.skip("needs setpriv to run as another user")
        user = 65534  # nobody
    with tempfile.TemporaryDirectory(prefix="weather-api-first-hour-") as temporary:
        Path(temporary).chmod(0o755)  # pytest's own tmp_path is private to its user
        project = copy_project(Path(temporary) / "project")
        bin_dir = tool_dir(Path(temporary) / "bin")
        result = make(
            project, "test", "REDIS_SERVER=/nonexistent/redis-server", path=str(bin_dir), user=user
        )
        built = (project / ".venv").exists()
    assert result.returncode != 0
    line = readme_system_line()
    assert line.startswith("sudo apt-get install -y ")
    assert line in result.stderr.splitlines(), result.stderr
    assert not built


def test_no_page_asks_for_sudo_make() -> None:
    """Nothing in the README or docs runs make as root: only apt-get needs it."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert not [p.name for p in pages if "sudo make" in p.read_text(encoding="utf-8")]


def test_the_browser_test_fails_loudly_without_a_browser(tmp_path: Path) -> None:
    """No browser at CHROME: the Swagger UI test fails and says what to install; no skip."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--no-cov",
            "-rs",
            str(ROOT / "tests" / "routes" / "test_docs_browser.py"),
        ],
        cwd=ROOT,
        env={**os.environ, "CHROME": str(tmp_path / "no-chrome")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout
    assert "1 failed" in result.stdout
    assert "skipped" not in result.stdout
    assert "sudo apt-get install -y chromium" in result.stdout
