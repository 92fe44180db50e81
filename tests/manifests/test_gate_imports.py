"""The manifest gate's modules import each other one way (no circle, even inside a function or
under TYPE_CHECKING) and none reaches for another's private names."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GATE = REPO / "tools" / "manifest_gate"


def imports(package: Path) -> dict[str, set[tuple[str, str]]]:
    """For each module of `package`: the (module, name) pairs it imports from the package,
    wherever the import statement is; name is "" for `import package.module`."""
    prefix = package.name
    graph: dict[str, set[tuple[str, str]]] = {}
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        found = graph.setdefault(module.removesuffix(".__init__"), set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update((a.name, "") for a in node.names if a.name.startswith(prefix))
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(prefix):
                for alias in node.names:
                    # `from package import module` imports the module itself
                    sub = f"{node.module}.{alias.name}"
                    is_module = (package.parent / sub.replace(".", "/")).with_suffix(".py")
                    pair = (sub, "") if is_module.is_file() else (node.module or "", alias.name)
                    found.add(pair)
    return graph


def circles(graph: dict[str, set[tuple[str, str]]]) -> list[list[str]]:
    """Every import circle, as the modules along it (depth-first search)."""
    edges = {m: sorted({t for t, _ in targets if t != m}) for m, targets in graph.items()}
    found: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in edges.get(module, []):
            if state.get(target) == "open":
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    return found


def test_the_gate_has_no_import_circle() -> None:
    """No gate module imports, directly or through others, a module that imports it."""
    graph = imports(GATE)
    assert "manifest_gate.gate" in graph
    assert circles(graph) == []


def test_no_gate_module_imports_another_ones_private_names() -> None:
    """`from manifest_gate.x import _name` is a helper that belongs in a shared module."""
    private = sorted(
        f"{module} imports {target}.{name}"
        for module, targets in imports(GATE).items()
        for target, name in targets
        if name.startswith("_") and target != module
    )
    assert private == []


def test_the_checks_see_a_circle_and_a_private_import(tmp_path: Path) -> None:
    """Two modules that import each other (one inside a function) and a private name."""
    package = tmp_path / "manifest_gate"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from manifest_gate.b import _helper\n")
    (package / "b.py").write_text("def _helper():\n    from manifest_gate import a\n")
    graph = imports(package)
    assert circles(graph) == [["manifest_gate.a", "manifest_gate.b", "manifest_gate.a"]]
    assert ("manifest_gate.b", "_helper") in graph["manifest_gate.a"]
