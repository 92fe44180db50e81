"""docs/architecture.md's table of misbehaving upstreams names only tests that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE = re.compile(r"`(tests/[\w/]+\.py)` `(test_\w+)`")


def section() -> str:
    text = (ROOT / "docs" / "architecture.md").read_text()
    start = text.index("### Misbehaving upstreams")
    end = text.index("\n## ", start)
    return text[start:end]


def test_every_test_the_table_names_exists() -> None:
    """Each `file` `test` of the table is a test function in that file; every row names one."""
    rows = [line for line in section().splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) > 10
    for row in rows[1:]:  # the header names none
        nodes = NODE.findall(row)
        assert nodes, f"a row without a test: {row[:80]}"
        for path, name in nodes:
            tree = ast.parse((ROOT / path).read_text())
            functions = {
                node.name
                for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            }
            assert name in functions, f"{path} has no {name}"
