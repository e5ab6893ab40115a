"""Round trips to Redis, counted on the wire: every store call a request makes on
its way is one (what does not wait on a reply goes in one pipeline)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from redis.connection import AbstractConnection

from agentic_commerce.domain.model import Status
from agentic_commerce.store.base import Commit
from agentic_commerce.store.redis import RedisStore
from tests.store.test_contract import event, order, record, run, session, token
from tests.stores import StoreFactory


@pytest.fixture
def redis_store(store_factory: StoreFactory) -> RedisStore:
    store = store_factory()
    assert isinstance(store, RedisStore)
    return store


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many times a connection sent (a command or a whole pipeline: one trip)."""
    sent: list[int] = []
    send = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        sent.append(1)
        send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    yield sent


def trips(wire: list[int], call: Callable[[], Awaitable[Any]]) -> int:
    wire.clear()
    run(call())
    return len(wire)


@pytest.mark.parametrize("store_kind", ["redis"])
def test_each_store_call_on_a_requests_way_is_one_round_trip(
    redis_store: RedisStore, wire: list[int], store_kind: str
) -> None:
    store = redis_store
    run(store.seed_stock({"a": 10, "b": 10}))
    run(store.begin_idempotency("warm\x1fup", "h", 30))  # loads the scripts, if need be
    assert trips(wire, lambda: store.begin_idempotency("cs_1\x1fk", "h", 30)) == 1
    assert trips(wire, lambda: store.hold("cs_1", {"a": 2, "b": 1})) == 1
    assert trips(wire, lambda: store.hold("cs_1", {"a": 3, "b": 0})) == 1  # b released too
    first = session("cs_1")
    assert trips(wire, lambda: store.commit(Commit(first, None, record("cs_1\x1fk")))) == 1
    assert trips(wire, lambda: store.load_session("cs_1")) == 1
    assert trips(wire, lambda: store.put_idempotency(record("cs_1\x1fj"))) == 1
    assert trips(wire, lambda: store.put_vault_token(token(), record("vault\x1fk"))) == 1
    paid = session("cs_1", status=Status.COMPLETED, order=order())
    assert trips(wire, lambda: store.commit(Commit(paid, 1, None, (event("evt_1"),)))) == 1


@pytest.mark.parametrize("store_kind", ["redis"])
def test_a_stray_product_costs_one_more_round_trip(
    redis_store: RedisStore, wire: list[int], store_kind: str
) -> None:
    """A product the holder's set names but the hold does not (its commit never
    happened) is found in the same trip and released in a second one."""
    store = redis_store
    run(store.seed_stock({"a": 10, "b": 10}))
    run(store.hold("cs_1", {"a": 1, "b": 1}))
    assert trips(wire, lambda: store.hold("cs_1", {"a": 1})) == 2
    assert run(store.stock("b")).reserved == 0
