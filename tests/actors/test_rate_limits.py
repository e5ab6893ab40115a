"""The rate-limit settler (each store, trio's MockClock): instances sharing a store
learn each other's counts at their settlements; a settlement the store refuses keeps
its counts for the next round, is logged, and never stops the loop."""

from __future__ import annotations

import trio
import trio.testing
from structlog.testing import capture_logs

from agentic_commerce.actors.clock import TrioClock
from agentic_commerce.actors.rate_limits import RateLimits
from agentic_commerce.domain.rate_limit import Limit
from tests.stores import StoreFactory, StoreOutage

LIMIT = Limit(per_minute=6, burst=10)  # ten seconds a request: rounds drain little
SETTLE = 0.25
KEY = "merchant:m"


async def test_instances_learn_each_others_counts_at_settlement(
    mock_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    store, clock = store_factory(), TrioClock()
    one, two = RateLimits(store, clock, SETTLE), RateLimits(store, clock, SETTLE)
    for _ in range(4):
        one.admit(KEY, LIMIT)
    assert two.peek(KEY, LIMIT).remaining == 9  # nothing settled yet
    await one.settle()
    await two.settle()
    assert two.peek(KEY, LIMIT).remaining == 5  # one's four, and this one
    two.admit(KEY, LIMIT)
    await two.settle()
    await one.settle()
    assert one.peek(KEY, LIMIT) == two.peek(KEY, LIMIT)
    assert one.peek(KEY, LIMIT).remaining == 4


async def test_a_failed_settlement_keeps_its_counts_for_the_next(
    mock_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    store, clock = store_factory(StoreOutage), TrioClock()
    one, two = RateLimits(store, clock, SETTLE), RateLimits(store, clock, SETTLE)
    one.admit(KEY, LIMIT)
    one.admit(KEY, LIMIT)
    store.down = frozenset({"settle_rate_limits"})
    with capture_logs() as logs:
        await one.settle()
    assert [e["event"] for e in logs] == ["rate_limit_settlement_failed"]
    assert logs[0]["error"] == "StoreUnavailable"
    one.admit(KEY, LIMIT)  # after the failed round: joins the kept counts
    store.down = frozenset()
    await one.settle()
    await two.settle()
    assert two.peek(KEY, LIMIT).remaining == 6  # the three requests, once each


async def test_the_loop_settles_every_interval_and_outlives_store_failures(
    mock_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    store, clock = store_factory(StoreOutage), TrioClock()
    one, two = RateLimits(store, clock, SETTLE), RateLimits(store, clock, SETTLE)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(one.keep)
        store.down = frozenset({"settle_rate_limits"})
        one.admit(KEY, LIMIT)
        with capture_logs() as logs:
            for _ in range(3):  # three refused rounds
                await trio.testing.wait_all_tasks_blocked()
                mock_clock.jump(SETTLE)
            await trio.testing.wait_all_tasks_blocked()
        assert [e["event"] for e in logs] == ["rate_limit_settlement_failed"] * 3
        store.down = frozenset()
        await two.settle()
        assert two.peek(KEY, LIMIT).remaining == 9  # nothing arrived yet
        mock_clock.jump(SETTLE)
        await trio.testing.wait_all_tasks_blocked()
        await two.settle()
        assert two.peek(KEY, LIMIT).remaining == 8  # the kept count, in the next round
        nursery.cancel_scope.cancel()
