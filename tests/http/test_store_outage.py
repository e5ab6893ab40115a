"""A store that does not answer makes every route a 503 with `Retry-After`, in the
route's error shape, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config.settings import Settings
from agentic_commerce.http.app import create_app
from agentic_commerce.supervisor import load_catalog
from tests.http.conftest import VERSIONS, AcpClient, address_update, create_body, payment
from tests.http.test_delegate_payment import delegate, delegate_body
from tests.stores import StoreFactory, StoreOutage


@asynccontextmanager
async def app_on(store: StoreOutage) -> AsyncIterator[AcpClient]:
    settings = Settings()
    system = ActorSystem(settings, store, load_catalog(settings))  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(system.run)
        await system.sessions.wait_ready()
        async with create_app(system).test_app() as app:
            yield AcpClient(app.test_client())
        nursery.cancel_scope.cancel()


def assert_unavailable(status: int, body: dict[str, str], retry_after: str | None) -> None:
    assert status == 503
    assert body["type"] == "service_unavailable"
    assert retry_after == "1"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("down", ["begin_idempotency", "commit", "hold"])
async def test_checkout_answers_503(store_factory: StoreFactory, version: str, down: str) -> None:
    store = store_factory(StoreOutage)
    async with app_on(store) as acp:
        client = acp.using(version)
        ready = await client.create(create_body(version, **address_update(version)))
        store.down = frozenset({down})
        for reply in (
            await client.create(create_body(version)),
            await client.complete(ready.body["id"], payment(version)),
        ):
            assert_unavailable(reply.status, reply.body, reply.headers.get("Retry-After"))
        store.down = frozenset()
        assert (await client.complete(ready.body["id"], payment(version))).status == 200


async def test_delegate_payment_answers_503(store_factory: StoreFactory) -> None:
    store = store_factory(StoreOutage)
    async with app_on(store) as acp:
        store.down = frozenset({"put_vault_token"})
        reply = await delegate(acp, delegate_body())
        assert_unavailable(reply.status, reply.body, reply.headers.get("Retry-After"))
