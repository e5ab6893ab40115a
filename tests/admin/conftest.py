"""The real app on a real actor system with an admin key, and the operators' helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config.settings import Settings
from agentic_commerce.http.app import create_app
from agentic_commerce.payments.base import Processor
from agentic_commerce.store.memory import MemoryStore
from agentic_commerce.supervisor import load_catalog
from tests.http.conftest import AcpClient, create_body

ADMIN_KEY = "admin_key_test_7f3a9c"
BEARER = {"Authorization": f"Bearer {ADMIN_KEY}"}
NEW = "2026-04-17"


@dataclass
class Admin:
    """An ACP client, a raw test client (for /admin) and the system behind them."""

    acp: AcpClient
    client: Any
    app: Any
    system: ActorSystem

    async def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        response = await self.client.get(path, headers=BEARER if headers is None else headers)
        return response.status_code, await response.get_json()

    async def post(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        response = await self.client.post(path, headers=BEARER if headers is None else headers)
        return response.status_code, await response.get_json()

    async def new_session(self, **extra: Any) -> str:
        created = await self.acp.create(create_body(NEW, **extra))
        assert created.status == 201
        return str(created.body["id"])


@asynccontextmanager
async def admin_app(
    processors: list[Processor] | None = None, **changes: Any
) -> AsyncIterator[Admin]:
    settings = Settings(**{"admin_api_key": ADMIN_KEY, **changes})
    system = ActorSystem(settings, MemoryStore(), load_catalog(settings), processors=processors)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(system.run)
        await system.sessions.wait_ready()
        async with create_app(system).test_app() as app:
            client = app.test_client()
            yield Admin(AcpClient(client), client, app, system)
        nursery.cancel_scope.cancel()
