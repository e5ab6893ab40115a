"""The five checkout tools of the 2026-04-17 MCP binding, read from the vendored
binding (OpenRPC) and JSON Schemas beside this module: names, descriptions and
input schemas with every `$ref` resolved, so an agent sees the real request shapes
without fetching anything. The copies are checked against `spec/` by the tests."""

from __future__ import annotations

import importlib.resources
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mcp_types as types
import orjson

BINDING_FILE = "openrpc.agentic_checkout.json"
SCHEMA_FILE = "schema.agentic_checkout.json"
KINDS = {  # tool -> the session operation it maps to
    "create_checkout_session": "create",
    "get_checkout_session": "get",
    "update_checkout_session": "update",
    "complete_checkout_session": "complete",
    "cancel_checkout_session": "cancel",
}


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    kind: str
    payload: bool  # the tool takes a `payload` (the REST body)
    payload_required: bool
    definition: types.Tool


def _document(name: str) -> Any:
    return orjson.loads((importlib.resources.files(__package__) / "binding" / name).read_bytes())


def _target(document: Any, pointer: str) -> Any:
    for part in pointer.strip("/").split("/"):
        document = document[part.replace("~1", "/").replace("~0", "~")]
    return document


def resolved(node: Any, here: str, documents: Mapping[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """`node` (in document `here`) with each `$ref` replaced by what it points at.
    A `$ref`'s sibling keywords (descriptions, in these schemas) are kept over the
    target's. A cycle raises: the binding has none, and inlining one would not end."""
    if isinstance(node, list):
        return [resolved(item, here, documents, seen) for item in node]
    if not isinstance(node, dict):
        return node
    siblings = {k: resolved(v, here, documents, seen) for k, v in node.items() if k != "$ref"}
    ref = node.get("$ref")
    if ref is None:
        return siblings
    path, _, pointer = ref.partition("#")
    document = path.rsplit("/", 1)[-1] or here
    key = f"{document}#{pointer}"
    if key in seen:
        raise ValueError(f"$ref cycle through {key}")
    target = _target(documents[document], pointer)
    return {**resolved(target, document, documents, (*seen, key)), **siblings}


def load_tools() -> dict[str, Tool]:
    documents = {BINDING_FILE: _document(BINDING_FILE), SCHEMA_FILE: _document(SCHEMA_FILE)}
    tools = {}
    for method in documents[BINDING_FILE]["methods"]:
        params = resolved(method["params"], BINDING_FILE, documents)
        properties = {param["name"]: {**param["schema"], **_described(param)} for param in params}
        required = [param["name"] for param in params if param.get("required")]
        payload = next((param for param in params if param["name"] == "payload"), None)
        definition = types.Tool(
            name=method["name"],
            title=method["summary"],
            description=method["description"],
            input_schema={"type": "object", "properties": properties, "required": required},
        )
        tools[method["name"]] = Tool(
            method["name"],
            KINDS[method["name"]],
            payload is not None,
            bool(payload and payload.get("required")),
            definition,
        )
    return tools


def _described(param: Mapping[str, Any]) -> dict[str, str]:
    """The binding's words for a parameter, when it has some (over its schema's)."""
    return {"description": param["description"]} if "description" in param else {}
