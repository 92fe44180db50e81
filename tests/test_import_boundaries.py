"""The stub and the providers share no code: neither package imports the other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import weather_api
from tests.import_graph import circles, imports

PACKAGE = Path(weather_api.__file__).parent


def imported_modules(path: Path, *, package: str | None = None) -> set[str]:
    """Every module a source file imports, absolute, relative imports resolved."""
    if package is None:
        package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            # `from weather_api import stub` imports a module too: count each name as one.
            names.update(f"{base}.{alias.name}" for alias in node.names)
            names.add(base)
    return names


def crossings(importer: str, imported: str) -> list[str]:
    """`file: module` for each import in package `importer` that reaches package `imported`."""
    target = f"weather_api.{imported}"
    return [
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in sorted((PACKAGE / importer).rglob("*.py"))
        for name in sorted(imported_modules(path))
        if name == target or name.startswith(target + ".")
    ]


@pytest.mark.parametrize(("importer", "imported"), [("stub", "providers"), ("providers", "stub")])
def test_no_imports_between_stub_and_providers(importer: str, imported: str) -> None:
    """No module of one package imports the other, directly or by a relative import."""
    assert crossings(importer, imported) == []


def test_the_synthetic_world_imports_neither() -> None:
    """The world both fakes read imports nothing of the service at all."""
    names = imported_modules(PACKAGE / "synthetic.py")
    assert [name for name in names if name.startswith("weather_api")] == []


def test_the_check_sees_every_form_of_import(tmp_path: Path) -> None:
    """Plain, `from` and relative imports of the other package are all found."""
    source = tmp_path / "fake.py"
    source.write_text(
        "import weather_api.providers.wmo\n"
        "from weather_api import providers\n"
        "from ..providers.sample import SampleProvider\n"
        "from . import owm\n"
    )
    names = imported_modules(source, package="weather_api.stub")
    assert {
        "weather_api.providers.wmo",
        "weather_api.providers",
        "weather_api.providers.sample",
        "weather_api.stub.owm",
    } <= names


def test_the_service_has_no_import_circle() -> None:
    """No module of weather_api imports, directly or through others (inside a function or
    under TYPE_CHECKING too), a module that imports it."""
    graph = imports(PACKAGE)
    assert "weather_api.app" in graph
    assert circles(graph) == []
