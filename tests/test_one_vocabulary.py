"""One vocabulary at the upstream boundary: httpx's exceptions, never the adapter's own.

The adapter (providers/aiohttp_transport.py) may define httpx subclasses (ResponseTooLarge is
an httpx.DecodingError); no other module catches one by its name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import httpx

import weather_api
from weather_api.providers import aiohttp_transport

SRC = Path(weather_api.__file__).parent
ADAPTER = Path(aiohttp_transport.__file__)


def adapter_exceptions() -> set[str]:
    """Names of the exception classes the adapter defines."""
    return {
        name
        for name, value in vars(aiohttp_transport).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == aiohttp_transport.__name__
    }


def caught_names(tree: ast.AST) -> set[str]:
    """Every name or attribute an `except` clause of the module names."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            for part in ast.walk(node.type):
                if isinstance(part, ast.Name):
                    names.add(part.id)
                elif isinstance(part, ast.Attribute):
                    names.add(part.attr)
    return names


def test_no_module_catches_an_exception_the_adapter_defines() -> None:
    """Outside the adapter, `except` clauses name httpx's (or the domain's) classes only."""
    ours = adapter_exceptions()
    assert "ResponseTooLarge" in ours  # the check looks at something
    offenders = {
        f"{path.relative_to(SRC)}: {name}"
        for path in SRC.rglob("*.py")
        if path != ADAPTER
        for name in caught_names(ast.parse(path.read_text())) & ours
    }
    assert offenders == set()


def test_the_adapter_s_own_exceptions_are_httpx_classes_callers_already_catch() -> None:
    """ResponseTooLarge is an httpx.DecodingError: `except httpx.DecodingError` catches it."""
    assert issubclass(aiohttp_transport.ResponseTooLarge, httpx.DecodingError)
    assert not issubclass(aiohttp_transport.ResponseTooLarge, httpx.TransportError)
