"""An agent of the real server over MCP: the `mcp` SDK's own client (Streamable HTTP)
on `/mcp`, with every answer checked against the 2026-04-17 JSON Schema: each
`structuredContent` as the session its tool answers (and its text content as the
same JSON), each error's `data` as the flat ACP Error."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import orjson
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests import acp_schema
from tests.real_requests import PAY

VERSION = "2026-04-17"
DEMO_KEY = "api_key_demo_123"
ACP_ERROR = -32000


def new_key() -> str:
    return f"idem_{uuid.uuid4().hex}"


@dataclass
class Answer:
    session: dict[str, Any]
    replayed: bool


class Agent:
    """Tool calls with `meta` filled in: the version, and a fresh idempotency key on
    create and complete unless one is given (`key=None` sends none)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def call(self, tool: str, arguments: dict[str, Any]) -> Answer:
        result = await self.client.call_tool(tool, arguments)
        assert not result.is_error, result
        session = result.structured_content
        assert isinstance(session, dict)
        (text,) = result.content
        assert text.type == "text" and orjson.loads(text.text) == session
        version = arguments.get("meta", {}).get("api_version", VERSION)
        acp_schema.assert_checkout_session(version, session, complete=tool.startswith("complete"))
        replayed = bool(result.meta and result.meta.get("idempotent_replayed"))
        return Answer(session, replayed)

    async def refused(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The binding's error: JSON-RPC -32000 whose data is the flat ACP Error."""
        with pytest.raises(MCPError) as caught:
            await self.client.call_tool(tool, arguments)
        error = caught.value
        assert error.code == ACP_ERROR, error
        assert isinstance(error.data, dict)
        acp_schema.assert_error(VERSION, error.data)
        assert error.message == error.data["message"]
        return error.data

    @staticmethod
    def meta(key: str | None = None, **more: str) -> dict[str, str]:
        meta = {"api_version": VERSION, **more}
        if key is not None:
            meta["idempotency_key"] = key
        return meta

    def create_args(self, payload: dict[str, Any], key: str | None = "new") -> dict[str, Any]:
        return {"meta": self.meta(new_key() if key == "new" else key), "payload": payload}

    async def create(self, payload: dict[str, Any], key: str | None = "new") -> Answer:
        return await self.call("create_checkout_session", self.create_args(payload, key))

    async def get(self, session_id: str) -> Answer:
        return await self.call("get_checkout_session", {"meta": self.meta(), "id": session_id})

    async def update(self, session_id: str, payload: dict[str, Any]) -> Answer:
        arguments = {"meta": self.meta(), "id": session_id, "payload": payload}
        return await self.call("update_checkout_session", arguments)

    def complete_args(
        self, session_id: str, payload: dict[str, Any] = PAY, key: str | None = "new"
    ) -> dict[str, Any]:
        meta = self.meta(new_key() if key == "new" else key)
        return {"meta": meta, "id": session_id, "payload": payload}

    async def complete(self, session_id: str, payload: dict[str, Any] = PAY) -> Answer:
        return await self.call("complete_checkout_session", self.complete_args(session_id, payload))

    async def cancel(self, session_id: str, payload: dict[str, Any] | None = None) -> Answer:
        arguments: dict[str, Any] = {"meta": self.meta(), "id": session_id}
        if payload is not None:
            arguments["payload"] = payload
        return await self.call("cancel_checkout_session", arguments)


def http_client(key: str | None = DEMO_KEY) -> httpx2.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx2.AsyncClient(headers=headers, timeout=30)


@asynccontextmanager
async def connected(
    base_url: str, key: str | None = DEMO_KEY, mode: str = "auto"
) -> AsyncIterator[Agent]:
    """An SDK client connected to the server's `/mcp` with the API key as its Bearer
    token; `mode`: the SDK's negotiation (`auto`: 2026-07-28 if served, `legacy`:
    the `initialize` handshake)."""
    async with http_client(key) as http:
        transport = streamable_http_client(f"{base_url}/mcp", http_client=http)
        async with Client(transport, mode=mode) as client:
            yield Agent(client)
