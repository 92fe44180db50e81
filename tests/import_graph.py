"""Who imports whom inside a package, and the circles that makes: for the tests that keep the
service's and the manifest gate's modules importing one way."""

from __future__ import annotations

import ast
from pathlib import Path


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
