"""Sequential round trips on a Redis Cluster, counted: each stage of a store call is
one (its commands go to their nodes in parallel), and a stage runs only once the
one before it landed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.cluster import ClusterPipeline

from agentic_commerce.domain.cart import Cart
from agentic_commerce.store.base import Commit
from agentic_commerce.store.redis import RedisStore, Topology
from tests.redis_cluster import ClusterServers
from tests.store.test_contract import record, run, session
from tests.store.test_round_trips import trips
from tests.stores import StoreFactory

pytestmark = pytest.mark.redis_topology


@pytest.fixture
def store(redis_cluster: ClusterServers) -> Iterator[RedisStore]:
    factory = StoreFactory(
        "cluster",
        redis_cluster.seed_url,
        topology=Topology("cluster"),
        flush=redis_cluster.flushall,
    )
    made = factory()
    assert isinstance(made, RedisStore)
    yield made
    factory.close()


@pytest.fixture
def stages(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per cluster pipeline sent: a sequential round trip."""
    sent: list[int] = []
    execute = ClusterPipeline.execute

    def counted(self: ClusterPipeline, raise_on_error: bool = True) -> list[Any]:
        sent.append(len(self))
        return execute(self, raise_on_error)

    monkeypatch.setattr(ClusterPipeline, "execute", counted)
    return sent


def test_a_create_and_an_update_in_sequential_round_trips(
    store: RedisStore, stages: list[int]
) -> None:
    run(store.seed_stock({"a": 10}))
    run(store.begin_idempotency("warm\x1fup", "h", 30))  # scripts loaded on every node
    # create: claim 1, hold 2 (holder set and orphan index, then the hold), commit 2
    assert trips(stages, lambda: store.begin_idempotency("cs_1\x1fk", "h", 30)) == 1
    assert trips(stages, lambda: store.hold("cs_1", {"a": 2})) == 2
    created = Commit(session("cs_1"), None, record("cs_1\x1fk"))
    assert trips(stages, lambda: store.commit(created)) == 2  # expiry intent, then commit
    # update: claim 1, commit 2
    assert trips(stages, lambda: store.begin_idempotency("cs_1\x1fk2", "h", 30)) == 1
    updated = Commit(session("cs_1"), 1, record("cs_1\x1fk2"))
    assert trips(stages, lambda: store.commit(updated)) == 2
    assert run(store.stock("a")).reserved == 2
    # a release of a product comes after its hold: a third stage
    assert trips(stages, lambda: store.hold("cs_1", {"a": 0})) == 3
    assert run(store.stock("a")).reserved == 0


def test_a_cart_answer_keyed_on_another_slot_is_written_after_the_cart(
    store: RedisStore, stages: list[int]
) -> None:
    """A cart whose id is not derived from its Idempotency-Key (the key's record had
    expired): one script for the cart, its answer a round later, never one script
    over two slots (which a cluster refuses)."""
    now = datetime.now(UTC)  # Redis keeps the cart until an hour past its expiry
    cart = Cart("cart_1", "merchant_test", "usd", (), now, now, now + timedelta(hours=1))
    answer = record("cart_other\x1fk")  # another partition, so another slot
    run(store._load_scripts())  # a first call would also load them
    stages.clear()
    saved = run(store.save_cart(cart, None, answer))
    assert len(stages) == 2
    assert run(store.load_cart("cart_1")) == saved
    assert run(store.load_idempotency("cart_other\x1fk")) == answer
