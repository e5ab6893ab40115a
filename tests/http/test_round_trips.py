"""What a request costs the store: the store calls on its path, each of which is one
Redis round trip (counted on the wire in `tests/store/test_round_trips.py`).

A GET of a live session costs none; an update that keeps the lines two (the key's
claim, the commit); a create, a change of lines or a complete three (claim, hold,
commit; the complete sells its units just after answering); a replay one. Store
calls of the background loops (settlement, sampling, sweeps) are not the request's.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import pytest
import trio
import trio.testing

from agentic_commerce.actors.system import ActorSystem
from tests.http.conftest import NEWEST, AcpClient, address_update, create_body, payment
from tests.http.test_idempotency import app_with
from tests.stores import StoreCalls, StoreFactory

REQUEST_PATH = {
    "load_session",
    "begin_idempotency",
    "put_idempotency",
    "release_idempotency",
    "hold",
    "commit",
    "consume",
    "release",
    "load_idempotency",
}


def opened(store: StoreCalls) -> AbstractAsyncContextManager[tuple[AcpClient, ActorSystem]]:
    """The app on the store (settlement far off: its rounds are no request's)."""
    return app_with(store, rate_limit_settle_seconds=3600.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("store_kind", ["redis"])  # the memory store calls itself
async def test_each_request_makes_the_store_calls_it_needs_and_no_more(
    store_factory: StoreFactory, store_kind: str
) -> None:
    store = store_factory(StoreCalls)

    def calls() -> list[str]:
        made = [name for name in store.calls if name in REQUEST_PATH]
        store.calls.clear()
        return made

    async with opened(store) as (acp, _):
        await trio.testing.wait_all_tasks_blocked()
        calls()
        created = await acp.create(create_body(NEWEST), headers={"Idempotency-Key": "k1"})
        assert created.status == 201
        assert calls() == ["begin_idempotency", "hold", "commit"]  # no load: the key found none
        sid = created.body["id"]

        assert (await acp.get(sid)).status == 200
        assert calls() == []

        assert (await acp.update(sid, address_update(NEWEST))).status == 200
        assert calls() == ["begin_idempotency", "commit"]

        lines = {"line_items": [{"id": "item_123", "quantity": 2}]}
        assert (await acp.update(sid, lines)).status == 200
        assert calls() == ["begin_idempotency", "hold", "commit"]

        again = await acp.create(create_body(NEWEST), headers={"Idempotency-Key": "k1"})
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert calls() == ["begin_idempotency"]

        done = await acp.complete(sid, payment(NEWEST))
        assert done.body["status"] == "completed"
        await trio.testing.wait_all_tasks_blocked()
        assert calls() == ["begin_idempotency", "hold", "commit", "consume"]  # sold after


@pytest.mark.parametrize("store_kind", ["redis"])
async def test_a_session_woken_from_the_store_loads_once(
    store_factory: StoreFactory, store_kind: str
) -> None:
    store = store_factory(StoreCalls)
    async with opened(store) as (acp, system):
        sid = (await acp.create(create_body(NEWEST))).body["id"]
        system.sessions.stop(sid)  # as if passivated: nothing live
        await trio.testing.wait_all_tasks_blocked()
        assert system.sessions.lookup(sid) is None
        store.calls.clear()
        assert (await acp.update(sid, address_update(NEWEST))).status == 200
        made = [name for name in store.calls if name in REQUEST_PATH]
        assert made == ["begin_idempotency", "load_session", "commit"]
