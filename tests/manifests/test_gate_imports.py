"""The manifest gate's modules import each other one way (no circle, even inside a function or
under TYPE_CHECKING) and none reaches for another's private names."""

from __future__ import annotations

from pathlib import Path

from tests.import_graph import circles, imports

REPO = Path(__file__).resolve().parents[2]
GATE = REPO / "tools" / "manifest_gate"


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
