"""README.md and docs/*.md name only what exists, so that they cannot drift from the code.

What the docs name, and where this test looks for it ("code" is an inline code span or a line
of a fenced code block; prose outside code is not read, except for links and variables):

- **make targets**: in code, in a command that is `make` (after any `VAR=value` and `sudo`), every
  word up to a shell operator or comment that is neither an option (`-j`) nor an assignment
  (`PROFILE=seed`) must be a target of the Makefile.
- **flags**: ours are those of `weather-api serve --help` and `weather-api stub --help`. A code
  line or span is checked when it is a command of ours: it starts with `weather-api serve`,
  `weather-api stub` (also as `python -m weather_api ...`), or with `serve`/`stub` alone (a
  span such as `serve --reuse-port`); the `ARGS='...'` of `make run` (serve) and `make stub`
  (stub) too. An inline span that starts with a flag (`--cache-ttl 0`, as in prose and tables)
  must be one of ours or one of the load test's: `loadtest/run.py --help`, or Locust's own
  options with the ones our locustfile and its modules add (`--thresholds`, `--wait-min`). Every
  other command (kubectl, curl, minikube, the ARGS of other make targets) is someone else's and
  is not checked.
- **`WEATHER_API_*` variables**: anywhere in the text, each must be `WEATHER_API_` + a field of
  `weather_api.config.Settings` in upper case. pydantic-settings has no generic `_FILE`
  variant: `WEATHER_API_OPENWEATHERMAP_API_KEY_FILE` is a setting of its own, and another
  `..._FILE` is drift. Placeholders are written `WEATHER_API_<OPTION>` and are not checked.
- **paths**: in code, a word that starts with a top-level entry of the repository
  (`src/...`, `kustomize/...`, `Makefile`, `.ci/run`, ...) must exist, unless `.gitignore`
  covers it (outputs such as `bench/results/latest.json`); in a span that is a bare file name or
  relative path ending in one of `SOURCE_SUFFIXES` (`service.py`, `providers/upstream.py`), some
  file in the repository must end with it. A part with `<...>`, `{...}` or `*` is a
  placeholder: the path is checked up to it. Relative links `[text](path#anchor)` must lead
  to a file, and an anchor into a Markdown page to one of its headings (GitHub's anchors).
- **the tests' layout**: README says `tests/` mirrors `src/weather_api/`; `mirror_drift` reads
  both trees as they are (no list of modules) and finds where they part.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field, HttpUrl
from tools import config_reference

from weather_api import cli
from weather_api.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]

SOURCE_SUFFIXES = (".py", ".md", ".yaml", ".yml", ".conf", ".env", ".toml", ".lua", ".txt")

SHELL_OPERATORS = {"|", "||", "&", "&&", ";", "(", ")", "$(", "`"}
FLAG_RE = re.compile(r"--[a-z][a-z0-9-]*")
VARIABLE_RE = re.compile(r"(?<![A-Za-z0-9_])WEATHER_API_[A-Z0-9_]*[A-Z0-9](?![a-z<])")
FENCE_RE = re.compile(r"^\s*(```|~~~)")
INLINE_RE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
LINK_RE = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING_RE = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")


@dataclass(frozen=True)
class Code:
    """A piece of code in a doc: a fenced block's line (`block`) or an inline span."""

    text: str
    line: int
    block: bool


@dataclass(frozen=True)
class Facts:
    """What exists: the Makefile's targets, our flags, the settings' variables, the files."""

    targets: frozenset[str]
    serve_flags: frozenset[str]
    stub_flags: frozenset[str]
    loadtest_flags: frozenset[str]
    variables: frozenset[str]
    root: Path


# --- what exists


def makefile_targets(makefile: str) -> frozenset[str]:
    """The explicit targets of a Makefile (rules `name: ...`, not `VAR := ...` assignments)."""
    targets = set()
    for line in makefile.splitlines():
        match = re.match(
            r"^([A-Za-z0-9][A-Za-z0-9_.-]*(?:\s+[A-Za-z0-9][A-Za-z0-9_.-]*)*)\s*:(?!=)", line
        )
        if match:
            targets.update(match.group(1).split())
    return frozenset(targets)


def help_flags(command: str) -> frozenset[str]:
    """Every `--flag` that `weather-api <command> --help` lists."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        cli.main([command, "--help"])
    return frozenset(FLAG_RE.findall(out.getvalue()))


def loadtest_flags() -> frozenset[str]:
    """Every `--flag` of `loadtest/run.py` and of Locust with our locustfile's modules loaded.

    `locust --help` stops before it loads a locustfile, so the parser is built the way Locust
    builds it, after the import, in a process of its own (the import patches with gevent).
    """
    script = (
        "import sys; sys.path.insert(0, 'loadtest'); import locustfile, stress; "
        "from locust.argument_parser import get_parser; print(get_parser().format_help())"
    )
    texts = [
        subprocess.run(
            [sys.executable, *argv],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        for argv in (["-c", script], ["loadtest/run.py", "--help"])
    ]
    return frozenset(flag for text in texts for flag in FLAG_RE.findall(text))


@cache
def facts() -> Facts:
    """The repository as it is."""
    return Facts(
        targets=makefile_targets((ROOT / "Makefile").read_text(encoding="utf-8")),
        serve_flags=help_flags("serve"),
        stub_flags=help_flags("stub"),
        loadtest_flags=loadtest_flags(),
        variables=frozenset("WEATHER_API_" + name.upper() for name in Settings.model_fields),
        root=ROOT,
    )


# --- reading a doc


def code_of(markdown: str) -> Iterator[Code]:
    """Each line of the fenced blocks (continuation lines joined) and each inline span."""
    in_block = False
    pending = ""
    pending_line = 0
    for number, line in enumerate(markdown.splitlines(), start=1):
        if FENCE_RE.match(line):
            in_block = not in_block
            pending = ""
            continue
        if in_block:
            if not pending:
                pending_line = number
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            yield Code(pending + line, pending_line, block=True)
            pending = ""
        else:
            for span in INLINE_RE.findall(line):
                yield Code(span, number, block=False)


def prose_of(markdown: str) -> Iterator[tuple[int, str]]:
    """Each line outside the fenced blocks, with its number."""
    in_block = False
    for number, line in enumerate(markdown.splitlines(), start=1):
        if FENCE_RE.match(line):
            in_block = not in_block
        elif not in_block:
            yield number, line


def words(code: str) -> list[str]:
    """Shell words, with operators as words of their own and comments dropped."""
    lexer = shlex.shlex(code, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote, as in a fragment: plain words will do
        return code.split()


def commands(code: str) -> Iterator[list[str]]:
    """The simple commands of a line: its words split at shell operators."""
    current: list[str] = []
    for word in words(code):
        if word in SHELL_OPERATORS or set(word) <= set("|&;()"):
            if current:
                yield current
            current = []
        else:
            current.append(word)
    if current:
        yield current


# --- the checks


def _without_assignments(command: list[str]) -> list[str]:
    """`CI=1 sudo make test` -> `make test`: the command that runs."""
    words_ = list(command)
    while words_ and (("=" in words_[0] and not words_[0].startswith("-")) or words_[0] == "sudo"):
        words_.pop(0)
    return words_


def unknown_targets(markdown: str, known: Facts) -> list[str]:
    """`make <target>` in code where the Makefile has no such target."""
    found = []
    for code in code_of(markdown):
        for command in commands(code.text):
            command = _without_assignments(command)
            if command[:1] != ["make"]:
                continue
            for word in command[1:]:
                if word.startswith("-") or "=" in word:
                    continue
                if word not in known.targets:
                    found.append(f"line {code.line}: make target {word!r} is not in the Makefile")
    return found


def _our_flags(
    command: list[str], known: Facts, *, span: bool
) -> Iterator[tuple[str, frozenset[str]]]:
    """The flags in one simple command that are ours, each with the flags it must be among."""
    command = _without_assignments(command)
    if not command:
        return
    if command[:1] == ["make"] and command[1:2] in (["run"], ["stub"]):
        allowed = known.serve_flags if command[1] == "run" else known.stub_flags
        args = [w for word in command[2:] if word.startswith("ARGS=") for w in words(word[5:])]
        yield from ((word, allowed) for word in args if FLAG_RE.match(word))
        return
    if (
        len(command) > 2
        and command[0].startswith("python")
        and command[1:3] == ["-m", "weather_api"]
    ):
        command = ["weather-api", *command[3:]]
    if command[0].endswith("weather-api"):
        command = command[1:]  # `weather-api serve ...` -> `serve ...`
    elif not span:
        return  # a code line that is not `weather-api ...` nor `make run|stub` is not ours
    if command[:1] == ["serve"] or command[:1] == ["stub"]:
        allowed = known.serve_flags if command[0] == "serve" else known.stub_flags
    elif span and command[:1] and command[0].startswith("--"):  # a bare flag in a span
        allowed = known.serve_flags | known.stub_flags | known.loadtest_flags
    else:
        return
    for word in command:
        if FLAG_RE.match(word):
            yield word, allowed


def unknown_flags(markdown: str, known: Facts) -> list[str]:
    """A flag of ours in code that `weather-api serve|stub --help` does not list."""
    found = []
    for code in code_of(markdown):
        for command in commands(code.text):
            for word, allowed in _our_flags(command, known, span=not code.block):
                flag = word.split("=")[0]
                if flag not in allowed:
                    found.append(f"line {code.line}: {flag} is an option of none of our commands")
    return found


def unknown_variables(markdown: str, known: Facts) -> list[str]:
    """A `WEATHER_API_*` variable that is not a field of the settings."""
    return [
        f"line {number}: {variable} is not a setting (weather_api.config)"
        for number, line in enumerate(markdown.splitlines(), start=1)
        for variable in VARIABLE_RE.findall(line)
        if variable not in known.variables
    ]


def _gitignore(root: Path) -> list[str]:
    """The patterns of the repository's `.gitignore`, without negations and comments."""
    path = root / ".gitignore"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [line.rstrip("/") for line in lines if line and not line.startswith(("!", "#"))]


def _ignored(relative: str, root: Path) -> bool:
    """Whether `.gitignore` covers a path in the tree (an output, such as a report)."""
    return any(
        fnmatch.fnmatch(relative.rstrip("/"), pattern) or relative.startswith(pattern + "/")
        for pattern in _gitignore(root)
        if "/" in pattern
    )


def _top_level(root: Path) -> list[str]:
    """The repository's top-level entries that git keeps, longest first."""
    ignored = [pattern for pattern in _gitignore(root) if "/" not in pattern]
    names = [
        p.name
        for p in root.iterdir()
        if p.name != ".git" and not any(fnmatch.fnmatch(p.name, i) for i in ignored)
    ]
    return sorted(names, key=len, reverse=True)


def _until_placeholder(path: str) -> str:
    """`a/b/<x>-<y>/c` -> `a/b/`: the part before the first placeholder segment."""
    cut = min((path.find(c) for c in "<{*" if c in path), default=-1)
    if cut < 0:
        return path
    return path[: path.rfind("/", 0, cut) + 1]


def _repo_files(root: Path) -> list[str]:
    top = [root / name for name in _top_level(root)]
    files = []
    for entry in top:
        if entry.is_file():
            files.append(entry.name)
        elif entry.is_dir():
            files.extend(
                p.relative_to(root).as_posix()
                for p in entry.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts
            )
    return files


def missing_paths(markdown: str, known: Facts, *, doc: Path) -> list[str]:
    """A repository path in code, or a relative link, that leads nowhere."""
    root = known.root
    top = _top_level(root)
    anchored = re.compile(
        r"(?<![\w./@:$-])((?:"
        + "|".join(re.escape(name) for name in top)
        + r")(?:/[^\s'\"`),;#]*)?)"
    )
    found = []
    files: list[str] | None = None
    for code in code_of(markdown):
        for word in words(code.text) or [code.text]:
            match = anchored.fullmatch(word) or (anchored.match(word) if "=" not in word else None)
            if match:
                path = _until_placeholder(match.group(1))
                if path and not (root / path).exists() and not _ignored(path, root):
                    found.append(f"line {code.line}: {match.group(1)} does not exist")
        text = code.text.strip()
        if (
            not code.block
            and text.endswith(SOURCE_SUFFIXES)
            and " " not in text
            and not anchored.fullmatch(text)
            and not text.startswith(("/", "http", "-"))
        ):
            files = files if files is not None else _repo_files(root)
            if not any(fnmatch.fnmatch(f, text) or fnmatch.fnmatch(f, "*/" + text) for f in files):
                found.append(f"line {code.line}: no file in the repository is {text}")
    for number, line in prose_of(markdown):
        for target in LINK_RE.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            page = (doc.parent / path).resolve() if path else doc
            if not page.exists():
                found.append(f"line {number}: the link {target} leads to no file")
            elif anchor and page.suffix == ".md" and anchor not in anchors(page.read_text("utf-8")):
                found.append(f"line {number}: the link {target} leads to no heading of {page.name}")
    return found


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a page's headings (lower case, punctuation dropped, `-` for
    spaces, `-1`, `-2`, ... for repeats)."""
    seen: dict[str, int] = {}
    result = set()
    for _, line in prose_of(markdown):
        match = HEADING_RE.match(line)
        if not match:
            continue
        text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1)).strip().lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def drift(doc: Path, known: Facts) -> list[str]:
    """Everything one doc names that does not exist."""
    text = doc.read_text(encoding="utf-8")
    return [
        *unknown_targets(text, known),
        *unknown_flags(text, known),
        *unknown_variables(text, known),
        *missing_paths(text, known, doc=doc),
    ]


# --- the docs as they are


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_docs_name_only_what_exists(doc: Path) -> None:
    """Each doc's make targets, flags, WEATHER_API_* variables, paths and links exist."""
    problems = drift(doc, facts())
    assert not problems, "\n".join(problems)


def test_docs_pages_exist() -> None:
    """The README and the six pages of docs/ are there (the Dockerfile copies the README)."""
    pages = {p.name for p in DOCS}
    assert pages >= {
        "README.md",
        "architecture.md",
        "configuration.md",
        "operations.md",
        "kubernetes.md",
        "load-testing.md",
        "benchmarks.md",
    }


def test_readme_is_a_front_page() -> None:
    """README.md stays a front page (~240 lines) and starts with the one line of system
    packages, then `make run` and `make test`."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 240
    blocks = [code.text.split("#")[0].strip() for code in code_of(readme) if code.block]
    assert blocks[0].startswith("sudo apt-get install -y ")
    assert blocks[1:3] == ["make run", "make test"]


CROSS_CUTTING = ("hostile", "loadtest", "manifests", "monitoring")
"""The folders of tests/ that cut across src/weather_api/ rather than mirror a part of it."""


@dataclass(frozen=True)
class SourceTree:
    """What `src/weather_api/` holds, as the mirror rule reads it."""

    packages: frozenset[str]
    """The subpackages (folders with an `__init__.py`)."""
    inner: dict[str, frozenset[str]]
    """Each module name inside a subpackage, and the subpackages that hold one of that name."""
    modules: frozenset[str]
    """The top-level modules."""


def source_tree(src: Path) -> SourceTree:
    """Read the package at `src` as it is now (a module renamed or split is seen at once)."""
    packages = frozenset(p.parent.name for p in src.glob("*/__init__.py"))
    inner: dict[str, set[str]] = {}
    for package in sorted(packages):
        for module in (src / package).glob("*.py"):
            if module.stem != "__init__":
                inner.setdefault(module.stem, set()).add(package)
    modules = frozenset(p.stem for p in src.glob("*.py") if p.stem not in {"__init__", "__main__"})
    return SourceTree(packages, {k: frozenset(v) for k, v in inner.items()}, modules)


def mirror_drift(*, src: Path, tests: Path, folders: frozenset[str]) -> list[str]:
    """Where `tests` stops mirroring `src` by README's rule; `folders` are the repository's
    top-level folders (a top-level test may be named after one: test_docs.py checks docs/).

    - each subpackage of `src` has a folder of the same name in `tests`, a package (with an
      `__init__.py`, so that pytest imports its modules as `tests.<folder>.<name>` and two
      folders may each hold a `test_config.py`);
    - every folder of `tests` is named after a subpackage or a module of `src`, or is one of
      CROSS_CUTTING;
    - no `test_<name>.py` or `test_<name>_<more>.py` at the top of `tests` is named after a
      subpackage or a module inside one, unless a top-level module or folder has that name.
    """
    tree = source_tree(src)
    present = frozenset(
        p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))
    )
    found = [
        f"src/weather_api/{name}/ has no tests/{name}/ for its tests"
        for name in sorted(tree.packages - present)
    ]
    found += [
        f"tests/{name}/ has no __init__.py"
        for name in sorted(tree.packages & present)
        if not (tests / name / "__init__.py").is_file()
    ]
    found += [
        f"tests/{name}/ is named after nothing in src/weather_api/ and is no cross-cutting "
        f"suite ({', '.join(CROSS_CUTTING)})"
        for name in sorted(present - tree.packages - tree.modules - set(CROSS_CUTTING))
    ]
    named = {package: frozenset({package}) for package in tree.packages} | tree.inner
    for path in sorted(tests.glob("test_*.py")):
        subject = path.stem.removeprefix("test_")
        for name, packages in sorted(named.items()):
            if name in tree.modules or name in folders:
                continue
            if subject == name or subject.startswith(name + "_"):
                where = " or ".join(f"tests/{package}/" for package in sorted(packages))
                found.append(f"tests/{path.name} is named after {name}: it belongs in {where}")
    return found


def _folders(root: Path) -> frozenset[str]:
    return frozenset(name for name in _top_level(root) if (root / name).is_dir())


def test_tests_mirror_src() -> None:
    """README's rule holds for the trees as they are: every subpackage has its folder of tests,
    every folder of tests/ mirrors something in src/weather_api/ or cuts across it, and no test
    of a subpackage's module sits at the top of tests/."""
    src, tests = ROOT / "src" / "weather_api", ROOT / "tests"
    assert source_tree(src).packages >= {"routes", "providers", "stub"}
    assert mirror_drift(src=src, tests=tests, folders=_folders(ROOT)) == []


def test_readme_states_the_rule_the_mirror_test_checks() -> None:
    """README says that tests/ mirrors src/weather_api/ and names each cross-cutting folder."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`tests/` mirrors `src/weather_api/`" in readme
    for name in CROSS_CUTTING:
        assert f"`{name}/`" in readme
        assert (ROOT / "tests" / name).is_dir()


def test_a_tree_that_stops_mirroring_is_drift(tmp_path: Path) -> None:
    """A subpackage without its folder, a folder named after nothing, a subpackage's test at the
    top and a folder without `__init__.py` are found; names shared with top-level modules or
    the repository's folders are not."""
    src, tests = tmp_path / "src", tmp_path / "tests"
    sources = "__init__ config cache routes/__init__ routes/batch routes/docs routes/owm"
    sources += " stub/__init__ stub/owm stub/config jobs/__init__"
    tested = "__init__ test_cache test_config test_docs test_batch test_owm_forecast test_routes"
    tested += " test_batches routes/__init__ routes/test_batch stub/test_owm router/__init__"
    tested += " hostile/__init__"
    for folder, names in ((src, sources), (tests, tested)):
        for name in names.split():
            (folder / f"{name}.py").parent.mkdir(parents=True, exist_ok=True)
            (folder / f"{name}.py").write_text("")
    assert mirror_drift(src=src, tests=tests, folders=frozenset({"docs"})) == [
        "src/weather_api/jobs/ has no tests/jobs/ for its tests",
        "tests/stub/ has no __init__.py",
        "tests/router/ is named after nothing in src/weather_api/ and is no cross-cutting suite "
        "(hostile, loadtest, manifests, monitoring)",
        "tests/test_batch.py is named after batch: it belongs in tests/routes/",
        "tests/test_owm_forecast.py is named after owm: it belongs in tests/routes/ or tests/stub/",
        "tests/test_routes.py is named after routes: it belongs in tests/routes/",
    ]


def test_the_rules_see_our_flags_in_their_places() -> None:
    """Our flags are found after weather-api/serve/stub, in make run/stub ARGS, and bare spans."""
    known = facts()
    assert {"--cache-ttl", "--reuse-port", "--no-reuse-port", "--help"} <= known.serve_flags
    assert {"--latency-ms", "--error-rate"} <= known.stub_flags
    doc = (
        "```sh\n"
        "weather-api serve --bogus-a\n"
        "python -m weather_api stub --bogus-b 1\n"
        "CI=1 make run ARGS='--provider sample --bogus-c'\n"
        "make stub ARGS='--bogus-d'   # a comment --bogus-not-read\n"
        "kubectl wait --bogus-kubectl && weather-api serve \\\n"
        "  --bogus-e\n"
        "make loadtest ARGS='--bogus-run-py'\n"
        "```\n"
        "Spans: `--bogus-f 1`, `serve --bogus-g`, `curl --bogus-curl`, `--expect-workers`.\n"
    )
    flags = {line.split(": ")[1].split()[0] for line in unknown_flags(doc, known)}
    assert flags == {f"--bogus-{c}" for c in "abcdefg"}


# --- each check fails on a made-up bad doc


def test_a_make_target_the_makefile_lacks_is_drift() -> None:
    """`make deploy-prod` fails the check; `make loadtest PROFILE=seed` and `make -s run` pass."""
    doc = (
        "Run `make deploy-prod`.\n\n"
        "```sh\nmake loadtest PROFILE=seed\nmake -s run && CI=1 make nope  # make sure\n```\n"
    )
    assert unknown_targets(doc, facts()) == [
        "line 1: make target 'deploy-prod' is not in the Makefile",
        "line 5: make target 'nope' is not in the Makefile",
    ]


def test_a_flag_weather_api_does_not_list_is_drift() -> None:
    """A made-up `--cache-tll` fails in a table and in `make run ARGS=`; real ones pass."""
    doc = (
        "| option | meaning |\n|---|---|\n| `--cache-tll` | typo |\n| `--cache-ttl 0` | off |\n\n"
        "```sh\nmake run ARGS='--upstream-url http://127.0.0.1:9000 --cache-tll 5'\n```\n"
    )
    assert unknown_flags(doc, facts()) == [
        "line 3: --cache-tll is an option of none of our commands",
        "line 7: --cache-tll is an option of none of our commands",
    ]


def test_a_variable_that_is_no_setting_is_drift() -> None:
    """WEATHER_API_CACHE_TIME and a made-up `_FILE` variant fail; settings and placeholders pass."""
    doc = (
        "Set `WEATHER_API_CACHE_TIME=5` (WEATHER_API_<OPTION>, see `WEATHER_API_*`).\n"
        "WEATHER_API_OPENWEATHERMAP_API_KEY_FILE=/run/key WEATHER_API_CACHE_URL_FILE=/run/url\n"
    )
    assert unknown_variables(doc, facts()) == [
        "line 1: WEATHER_API_CACHE_TIME is not a setting (weather_api.config)",
        "line 2: WEATHER_API_CACHE_URL_FILE is not a setting (weather_api.config)",
    ]


def test_a_path_that_does_not_exist_is_drift() -> None:
    """Missing repo paths, source files and links fail; outputs, placeholders and URLs pass."""
    doc = (
        "See `src/weather_api/nowhere.py`, `providers/nowhere.py`, `providers/upstream.py`,\n"
        "`bench/results/latest.json`, `loadtest/reports/<timestamp>-<profile>/` and\n"
        "[the page](docs/nowhere.md), [a heading](docs/architecture.md#no-such-heading),\n"
        "[an address](https://example.com/x.md), [Kubernetes](docs/kubernetes.md).\n\n"
        "```sh\nkubectl apply -k kustomize/overlays/prod\ncurl http://127.0.0.1:8000/docs\n```\n"
    )
    assert missing_paths(doc, facts(), doc=ROOT / "README.md") == [
        "line 1: src/weather_api/nowhere.py does not exist",
        "line 1: no file in the repository is providers/nowhere.py",
        "line 7: kustomize/overlays/prod does not exist",
        "line 3: the link docs/nowhere.md leads to no file",
        "line 3: the link docs/architecture.md#no-such-heading leads to no heading of "
        "architecture.md",
    ]


def test_anchors_are_the_ones_github_makes() -> None:
    """Headings become GitHub's anchors: lower case, no punctuation, repeats numbered."""
    page = (
        "# Load test on minikube\n## Shared cache (Redis)\n"
        "## `make bench`: figures\n## The `weather_api` package\n## Notes\n## Notes\n"
    )
    assert anchors(page) == {
        "load-test-on-minikube",
        "shared-cache-redis",
        "make-bench-figures",
        "the-weather_api-package",
        "notes",
        "notes-1",
    }


# --- the settings reference in docs/configuration.md, generated from the settings


def test_the_settings_reference_is_fresh() -> None:
    """docs/configuration.md's table is what `make docs` writes from today's Settings."""
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert config_reference.generated_part(page) == config_reference.reference(), (
        "docs/configuration.md's settings reference is stale: run `make docs`"
    )


def test_the_settings_reference_has_a_true_row_for_every_setting() -> None:
    """One row per field; each flag is one `serve --help` lists, each default the field's."""
    rows = [
        line
        for line in config_reference.reference().splitlines()
        if line.startswith("| ") and "WEATHER_API_" in line
    ]
    assert len(rows) == len(Settings.model_fields)
    known = facts()
    for row, (name, field) in zip(rows, Settings.model_fields.items(), strict=True):
        option, variable, default, *_ = (cell.strip() for cell in row.strip("|").split(" | "))
        assert variable == f"`WEATHER_API_{name.upper()}`"
        flags = set(FLAG_RE.findall(option))
        assert flags <= known.serve_flags, row
        assert bool(flags) == (f"--{name.replace('_', '-')}" in known.serve_flags), row
        if field.default is not None and not isinstance(field.default, tuple):
            shown = default.strip("`")
            value = getattr(field.default, "value", field.default)
            assert type(value)(shown.lower() == "true" if isinstance(value, bool) else shown) == (
                value
            ), row
    assert "`8000` | integer >= 1, <= 65535 |" in config_reference.reference()


def test_a_new_setting_gets_a_row_without_a_hand_list() -> None:
    """A field added to Settings appears with its flag, variable, default, bounds, docstring."""

    class More(Settings):
        forecast_cache_ttl: float = Field(default=1800.0, ge=0)
        """How long a forecast stays fresh."""
        otel: bool = False
        """Export traces."""
        otel_endpoint: HttpUrl | None = None
        """Where to."""
        otel_protocol: Literal["grpc", "http"] = "http"
        """How."""
        compat_appids: list[str] = Field(default_factory=list)
        """Keys accepted."""

    table = config_reference.reference(More)
    for row in (
        "| `--forecast-cache-ttl` | `WEATHER_API_FORECAST_CACHE_TTL` | `1800` | seconds >= 0 "
        "| How long a forecast stays fresh. |",
        "| `--otel`, `--no-otel` | `WEATHER_API_OTEL` | `false` | on/off | Export traces. |",
        "| `--otel-endpoint` | `WEATHER_API_OTEL_ENDPOINT` | unset | http(s) URL | Where to. |",
        "| `--otel-protocol` | `WEATHER_API_OTEL_PROTOCOL` | `http` | one of `grpc`, `http` "
        "| How. |",
        "| `--compat-appids` | `WEATHER_API_COMPAT_APPIDS` | empty | comma-separated list "
        "| Keys accepted. |",
    ):
        assert row in table


def test_a_stale_reference_is_rewritten_between_the_markers_only() -> None:
    """`make docs` replaces an old table and keeps the prose around it."""
    page = f"before\n{config_reference.BEGIN}\n| old | row |\n{config_reference.END}\nafter\n"
    new = config_reference.rewrite(page)
    assert new.startswith("before\n")
    assert new.endswith("\nafter\n")
    assert "| old | row |" not in new
    assert config_reference.generated_part(new) == config_reference.reference()


# --- numbers the docs and the make help quote, against what they quote


def make_help() -> dict[str, str]:
    """Each target's `## help` text in the Makefile."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return dict(re.findall(r"^([a-z-]+):[^#\n]*## (.*)$", makefile, flags=re.MULTILINE))


def _read(path: str) -> str:
    return (ROOT / path).read_text(encoding="utf-8")


def _soak_factors() -> set[int]:
    """How many times more fuzzing `make soak` draws: `A if SOAK else B` and `(N if SOAK ...`."""
    fuzz = _read("tests/hostile/test_fuzz.py")
    pairs = re.findall(r"(\d+) if SOAK else (\d+)", fuzz)
    assert pairs
    return {int(a) // int(b) for a, b in pairs}


def _stub_address() -> str:
    from weather_api.stub import StubConfig

    return f"{StubConfig.host}:{StubConfig.port}"


def help_numbers_checked() -> dict[str, dict[str, object]]:
    """For each target, the numbers its help text quotes and the value each stands for, read
    from what the target runs (a test file, a default, the Makefile's own variables)."""
    settings = Settings()
    memory = _read("tests/hostile/test_memory.py")
    # The flood of the test that only `make soak` runs (skipped unless SOAK).
    flood = re.search(r"run_flood\((\d[\d_]*)", memory[memory.index("skipif(not SOAK") :])
    assert flood
    processes = re.search(r'"--processes", type=int, default=(\d+)', _read("bench/shared_cache.py"))
    assert processes
    loadtest_processes = re.search(r"^PROCESSES \?= (\d+)$", _read("Makefile"), re.MULTILINE)
    assert loadtest_processes
    return {
        "run": {"127.0.0.1:8000": f"{settings.host}:{settings.port}"},
        "stub": {"127.0.0.1:9000": _stub_address()},
        "soak": {
            "50k": f"{int(flood.group(1)) // 1000}k",
            "4x": "/".join(f"{f}x" for f in sorted(_soak_factors())),
        },
        "bench": {"4 processes": f"{processes.group(1)} processes"},
        "loadtest": {"PROCESSES=2": f"PROCESSES={loadtest_processes.group(1)}"},
    }


# Numbers in help texts that are examples of a value, not claims about what a target runs.
HELP_EXAMPLES = {"ARGS='--latency-ms 50'", "STUB_ERROR_RATE=0.5", "exit 0/1"}
HELP_NUMBER = re.compile(r"[\w.=]*\d[\w.:=]*(?: processes)?")
DURATION = re.compile(r"~\d+ min")


def test_every_number_in_make_help_is_what_the_target_runs() -> None:
    """Each number a target's help quotes (4x fuzzing, 50k, ports, process counts) is the
    value in what the target runs; durations are left to the test below; an unchecked number
    fails, so a new one gets a check."""
    checked = help_numbers_checked()
    unchecked = []
    for target, text in make_help().items():
        for example in HELP_EXAMPLES:
            text = text.replace(example, "")
        text = DURATION.sub("", text)
        for number in HELP_NUMBER.findall(text):
            if number in checked.get(target, {}):
                expected = checked[target][number]
                assert expected == number, f"make {target}: {number!r} is {expected!r}"
            elif not re.fullmatch(r"[a-z]+\d*", number):  # a name with a digit (v3, ...)
                unchecked.append(f"make {target}: {number!r}")
    assert not unchecked, "numbers in make help that no check covers:\n" + "\n".join(unchecked)


def test_durations_the_docs_quote_are_the_make_help_ones() -> None:
    """`make bench` (~3 min, then ~2 min) and `make soak` (~6 min) are quoted alike in the docs."""
    helps = make_help()
    bench = [int(m) for m in re.findall(r"~(\d+) min", helps["bench"])]
    soak = [int(m) for m in re.findall(r"~(\d+) min", helps["soak"])]
    assert len(bench) == 2
    assert len(soak) == 1
    assert f"(about {bench[0]} minutes, then about {bench[1]} for the shared cache;" in _read(
        "docs/benchmarks.md"
    )
    assert f"(`bench/shared_cache.py`, ~{bench[1]} min," in _read("docs/architecture.md")
    assert f"`make soak` (~{soak[0]} min:" in _read("docs/operations.md")


def test_the_soak_factor_the_docs_quote_is_the_one_the_fuzzing_uses() -> None:
    """operations.md's "four times the fuzzing" and its 1,000 / 4,000 requests match the test."""
    (factor,) = _soak_factors()
    words_ = {2: "twice", 3: "three times", 4: "four times", 10: "ten times"}
    operations = _read("docs/operations.md")
    assert f"{words_[factor]} the fuzzing" in operations
    minimum = re.search(r"^MIN_CASES = (\d+)$", _read("tests/hostile/test_fuzz.py"), re.MULTILINE)
    assert minimum
    cases = int(minimum.group(1))
    assert f"sends {cases:,} generated requests ({cases * factor:,} in `make soak`)" in operations
    assert f"{words_[factor]} the\n# fuzzing" in _read("Makefile")


def _args(path: str) -> dict[str, str]:
    """`- --name=value` arguments of a manifest's container."""
    return dict(re.findall(r"^\s*- --([a-z-]+)=(\S+)$", _read(path), flags=re.MULTILINE))


def test_the_in_cluster_load_test_is_described_as_its_jobs_run_it() -> None:
    """kubernetes.md quotes the Locust Jobs' users, run time, think time and --min-rps, and
    the ci profile's own think time and floor it differs from."""
    master = _args("kustomize/components/locust/job-master.yaml")
    worker = _args("kustomize/components/locust/job-worker.yaml")
    ci = dict(re.findall(r"^([a-z-]+) = (\S+)$", _read("loadtest/profiles/ci.conf"), re.M))
    ci_floor = re.search(r'"ci": Thresholds\([^)]*min_rps=(\d+)', _read("loadtest/verdict.py"))
    assert ci_floor
    page = " ".join(_read("docs/kubernetes.md").split())
    minutes = master["run-time"].removesuffix("m")
    assert master["thresholds"] == "ci"
    assert (
        f"putting {master['users']} users, each thinking {worker['wait-min']}-{worker['wait-max']}"
        f" s between requests (`make loadtest`'s `ci` profile: {ci['wait-min']}-{ci['wait-max']}"
        f" s)" in page
    )
    assert f"through Traefik for {minutes} minutes" in page
    assert (
        f"a floor of {master['min-rps']} requests per second (`--min-rps={master['min-rps']}`) "
        f"instead of their {ci_floor.group(1)}" in page
    )
    assert f"{master['users']} users, {minutes} min" in page


def test_no_project_file_cites_a_document_the_project_lacks() -> None:
    """No file points readers at the house style guide or an issue tracker they cannot see."""
    outside = re.compile(r"STYLE\.md|\bissue \d+")
    found = []
    for name in _repo_files(ROOT):
        path = ROOT / name
        if name == "tests/test_docs.py" or path.suffix in {".png", ".svg", ".json", ".lock"}:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        found += [f"{name}: {m.group(0)}" for m in outside.finditer(text)]
    assert not found, "\n".join(found)


def test_the_license_is_the_one_pyproject_names() -> None:
    """LICENSE holds the MIT text that `pyproject.toml`'s `license = "MIT"` promises."""
    license_name = re.search(r'^license = "([^"]+)"$', _read("pyproject.toml"), re.MULTILINE)
    assert license_name
    assert license_name.group(1) == "MIT"
    text = _read("LICENSE")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text


def test_the_changelog_keeps_an_unreleased_section_first() -> None:
    """CHANGELOG.md follows Keep a Changelog: Unreleased first, sections by kind of change."""
    text = _read("CHANGELOG.md")
    versions = re.findall(r"^## \[([^\]]+)\]", text, re.MULTILINE)
    assert versions[0] == "Unreleased"
    kinds = set(re.findall(r"^### (\w+)$", text, re.MULTILINE))
    assert kinds <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


DEFAULT_QUOTED = re.compile(r"`(--[a-z-]+)` \(([0-9][0-9,.]*)(?: s)?[;),]")


def test_the_defaults_the_pages_quote_are_the_settings_defaults() -> None:
    """`--cache-ttl` (600 s), `--retry-attempts` (2), ... in any page: the default in config.py."""
    defaults = {
        "--" + name.replace("_", "-"): field.default
        for name, field in Settings.model_fields.items()
    }
    quoted = [
        (doc.name, flag, number)
        for doc in DOCS
        for flag, number in DEFAULT_QUOTED.findall(doc.read_text(encoding="utf-8"))
        if flag in defaults
    ]
    assert len(quoted) >= 10
    wrong = [
        f"{page}: {flag} ({number}) but the default is {defaults[flag]}"
        for page, flag, number in quoted
        if float(number.replace(",", "")) != defaults[flag]
    ]
    assert not wrong, "\n".join(wrong)
