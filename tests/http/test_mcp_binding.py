"""The MCP binding the server ships: copies of the vendored binding and JSON Schema
(a spec refresh must refresh them), read into tools with every `$ref` inlined."""

from __future__ import annotations

import importlib.resources

import pytest

from agentic_commerce.http.mcp import binding
from tests import acp_schema

VENDORED = {
    binding.BINDING_FILE: "openrpc",
    binding.SCHEMA_FILE: "json-schema",
}


@pytest.mark.parametrize("name", sorted(VENDORED))
def test_the_shipped_copies_are_the_vendored_spec(name: str) -> None:
    shipped = importlib.resources.files(binding.__package__) / "binding" / name
    vendored = acp_schema.spec_dir() / "2026-04-17" / VENDORED[name] / name
    assert shipped.read_bytes() == vendored.read_bytes()


def test_refs_are_inlined_with_their_siblings() -> None:
    documents = {
        "a.json": {"x": {"$ref": "b.json#/$defs/Y", "description": "mine"}},
        "b.json": {"$defs": {"Y": {"type": "string", "description": "theirs"}}},
    }
    inlined = binding.resolved(documents["a.json"], "a.json", documents)
    assert inlined == {"x": {"type": "string", "description": "mine"}}


def test_a_ref_cycle_is_refused() -> None:
    documents = {"a.json": {"$defs": {"A": {"items": {"$ref": "#/$defs/A"}}}}}
    with pytest.raises(ValueError, match="cycle"):
        binding.resolved(documents["a.json"], "a.json", documents)


def test_the_tools_map_to_the_session_operations() -> None:
    tools = binding.load_tools()
    assert {name: tool.kind for name, tool in tools.items()} == binding.KINDS
    assert [name for name, tool in tools.items() if tool.payload_required] == [
        "create_checkout_session",
        "update_checkout_session",
        "complete_checkout_session",
    ]
    assert not tools["get_checkout_session"].payload
