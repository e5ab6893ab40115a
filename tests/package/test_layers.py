"""Imports go one way: `domain/` imports nothing of ours, `protocol/` only `domain/`,
`actors/` and `store/` never `http/`. Checked over the source, every import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import agentic_commerce

PACKAGE = Path(agentic_commerce.__file__).parent
# layer: the packages of ours it may import (itself always)
ALLOWED: dict[str, frozenset[str]] = {
    "domain": frozenset(),
    "protocol": frozenset({"domain"}),
}
NEVER_HTTP = ("actors", "store")


def ours(path: Path) -> set[str]:
    """The top-level packages of ours that a module imports (`domain`, `http`, ...)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "agentic_commerce" and len(parts) > 1:
                found.add(parts[1])
    return found


def modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_inner_layers_import_only_what_is_inside(layer: str) -> None:
    assert modules(layer)
    for path in modules(layer):
        stray = ours(path) - ALLOWED[layer] - {layer}
        assert not stray, f"{path.relative_to(PACKAGE)} imports {sorted(stray)}"


@pytest.mark.parametrize("layer", NEVER_HTTP)
def test_actors_and_store_never_import_http(layer: str) -> None:
    for path in modules(layer):
        assert "http" not in ours(path), f"{path.relative_to(PACKAGE)} imports http"


def test_the_check_sees_a_stray_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from agentic_commerce.http.app import create_app\nimport agentic_commerce.store"
    )
    assert ours(module) == {"http", "store"}
