"""The Redis store against a real redis-server of its own: durability across kill -9,
outages (refused and silent), expiries kept by Redis, and the cross-slot indexes.

The store contract itself runs against Redis in tests/store/test_contract.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import trio

from agentic_commerce.domain.model import Line, Order, Payment, Session, Status
from agentic_commerce.domain.rate_account import Batch
from agentic_commerce.domain.rate_limit import Limit
from agentic_commerce.store.base import (
    Claim,
    Commit,
    IdempotencyRecord,
    OutboxEvent,
    StoreUnavailable,
)
from agentic_commerce.store.redis import RedisStore
from agentic_commerce.store.redis import keys as redis_keys
from agentic_commerce.store.redis import limits as redis_limits
from agentic_commerce.store.redis import outbox as redis_outbox
from agentic_commerce.store.redis import sessions as redis_sessions
from tests.redis_server import RedisServer
from tests.stores import run_job

NOW = datetime.now(UTC).replace(microsecond=0)
LIMIT = Limit(per_minute=60, burst=5)
LATER = time.time() + 3600


def session(sid: str = "cs_1", **changes: Any) -> Session:
    base = Session(
        id=sid,
        merchant_id="merchant_test",
        api_version="2026-04-17",
        status=Status.READY_FOR_PAYMENT,
        currency="usd",
        lines=(Line("li_1", "item", Decimal(2)),),
        created_at=NOW,
        updated_at=NOW,
        expires_at=NOW + timedelta(hours=1),
    )
    return replace(base, **changes)


def order(sid: str = "cs_1") -> Order:
    return Order(
        id=f"ord_{sid}",
        checkout_session_id=sid,
        permalink_url="https://shop.example.com/orders/1",
        created_at=NOW,
        currency="usd",
        lines=(),
        totals=(),
        payment=Payment("simulated", "ch_1", 100, "usd"),
    )


def event(sid: str = "cs_1", eid: str = "evt_1") -> OutboxEvent:
    return OutboxEvent(eid, "order_create", sid, f"ord_{sid}", "2026-04-17", NOW, order(sid))


def record(scope: str) -> IdempotencyRecord:
    return IdempotencyRecord(scope, "fp", 201, b'{"id": "cs_1"}', (), LATER)


@asynccontextmanager
async def opened(server: RedisServer, timeout: float = 5.0) -> AsyncIterator[RedisStore]:
    store = RedisStore(server.url, timeout=timeout)
    try:
        yield store
    finally:
        await store.close()


async def back_within(store: RedisStore, seconds: float) -> None:
    """Service resumes by itself (the same store object) within `seconds`."""
    with trio.fail_after(seconds):
        for _ in iter(int, 1):
            if await store.ping():
                return
            await trio.sleep(0.05)


async def completed_checkout(store: RedisStore, sid: str = "cs_1") -> Session:
    """A completed session with its order, answers and order event, as checkout leaves it."""
    await store.seed_stock({"item": 10})
    assert await store.hold(sid, {"item": 2}) == ()
    created = await store.commit(Commit(session(sid), None, record(f"{sid}\x1fcreate")))
    done = replace(created, status=Status.COMPLETED, order=order(sid))
    stored = await store.commit(Commit(done, 1, record(f"{sid}\x1fcomplete"), (event(sid),)))
    await store.consume(sid)
    return stored


async def test_everything_acknowledged_survives_kill_9(own_redis: RedisServer) -> None:
    async with opened(own_redis) as store:
        stored = await completed_checkout(store)
        await store.hold("cs_open", {"item": 3})
        await store.commit(Commit(session("cs_open"), None))
        assert (await store.rate_limit("merchant:m", LIMIT, time.time()))[0].remaining == 4
        await trio.to_thread.run_sync(own_redis.restart)  # SIGKILL, then the same dir and port

        # The same store object carries on: stale pooled connections are replaced.
        assert await store.load_session("cs_1") == stored
        assert await store.load_order("ord_cs_1") == order()
        assert await store.load_idempotency("cs_1\x1fcomplete") == record("cs_1\x1fcomplete")
        assert [e.id for e in await store.list_events("pending")] == ["evt_1"]
        level = await store.stock("item")
        assert (level.on_hand, level.reserved) == (8, 3)
        assert await store.due_sessions(NOW + timedelta(hours=2)) == ["cs_open"]
        assert (await store.rate_limit("merchant:m", LIMIT, time.time()))[0].remaining == 3
        (claimed,) = await store.claim_due_events(NOW, 10, 30)  # scripts reloaded on NOSCRIPT
        assert claimed.id == "evt_1"


async def test_refused_connections_are_unavailable_until_redis_returns(
    own_redis: RedisServer,
) -> None:
    async with opened(own_redis, timeout=2.0) as store:
        await store.commit(Commit(session(), None))
        own_redis.kill()
        calls: list[Callable[[], Awaitable[Any]]] = [
            lambda: store.load_session("cs_1"),
            lambda: store.commit(Commit(session("cs_2"), None)),
            lambda: store.hold("cs_2", {"item": 1}),
            lambda: store.rate_limit("merchant:m", LIMIT, time.time()),
            lambda: store.claim_due_events(NOW, 10, 30),
            lambda: store.load_idempotency("cs_1\x1fk"),
        ]
        for call in calls:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await call()
            assert time.monotonic() - started < 2.0 + 1.0
        assert await store.ping() is False

        await trio.to_thread.run_sync(own_redis.start)
        assert await store.ping() is True
        assert (await store.load_session("cs_1")) is not None
        assert await store.load_session("cs_2") is None  # the refused commit wrote nothing


async def test_a_paused_redis_is_unavailable_within_the_timeout(own_redis: RedisServer) -> None:
    timeout = 0.5
    async with opened(own_redis, timeout=timeout) as store:
        first = await store.commit(Commit(session(), None))
        own_redis.pause()
        try:
            durations: list[float] = []

            async def attempt(call: Callable[[], Awaitable[Any]]) -> None:
                started = time.monotonic()
                with pytest.raises(StoreUnavailable):
                    await call()
                durations.append(time.monotonic() - started)

            async with trio.open_nursery() as nursery:  # more calls than connections
                for n in range(10):
                    nursery.start_soon(attempt, lambda: store.load_session("cs_1"))
                    nursery.start_soon(
                        attempt, lambda n=n: store.commit(Commit(session(f"cs_p{n}"), None))
                    )
                nursery.start_soon(attempt, lambda: store.commit(Commit(first, 1)))
            assert len(durations) == 21
            assert max(durations) < timeout + 1.5
            assert await store.ping() is False
        finally:
            own_redis.resume()

        await back_within(store, seconds=10)
        # A write that timed out happened entirely or not at all, never in part.
        current = await store.load_session("cs_1")
        assert current is not None and current.version in (1, 2)
        assert current == replace(first, version=current.version)


async def test_expiries_are_kept_by_redis(own_redis: RedisServer) -> None:
    async with opened(own_redis) as store:
        with own_redis.client() as client:
            await store.put_idempotency(record("cs_1\x1fk"))
            assert await store.begin_idempotency("cs_1\x1fk2", "h", 7) is Claim.CLAIMED_FRESH
            assert await store.remember_signature("sig", 5)
            await store.rate_limit("merchant:m", LIMIT, time.time())
            record_ttl = client.pttl(redis_keys.idempotency_key("cs_1\x1fk"))
            assert 3_000_000 < record_ttl <= 3_601_000
            claim = redis_keys.idempotency_key("cs_1\x1fk2")  # the claim, until answered
            assert 6_000 < client.pttl(claim) <= 7_000
            assert 4_000 < client.pttl("acs:sig:sig") <= 5_000
            assert 0 < client.pttl("acs:{rl}:merchant:m") <= 1_002  # one interval ahead


async def test_a_settled_bucket_outlives_its_tat_and_the_busy_index_is_pruned(
    own_redis: RedisServer,
) -> None:
    """A late batch still finds the TAT its requests were counted after."""
    async with opened(own_redis) as store:
        with own_redis.client() as client:
            now = time.time()
            await store.settle_rate_limits({"merchant:m": Batch.one(1.0, now)}, now)
            grace = redis_limits.SETTLED_BUCKET_GRACE_MS
            assert grace < client.pttl("acs:{rl}:merchant:m") <= grace + 1_001
            assert client.zscore(redis_keys.BUSY, "merchant:m") == now + 1
            assert await store.settle_rate_limits({}, now + 1) == {}
            assert client.zcard(redis_keys.BUSY) == 0


async def test_an_intent_whose_write_never_came_is_dropped_after_the_grace(
    own_redis: RedisServer,
) -> None:
    grace = timedelta(seconds=redis_keys.INTENT_GRACE_SECONDS)
    async with opened(own_redis) as store:
        with own_redis.client() as client:
            # As if a process died between the expiry-index intent and its create.
            client.zadd(redis_keys.EXPIRY, {"cs_ghost": redis_keys.us(NOW)})
            assert await store.due_sessions(NOW + timedelta(seconds=1)) == []
            assert client.zscore(redis_keys.EXPIRY, "cs_ghost") is not None  # may still come
            assert await store.due_sessions(NOW + grace + timedelta(seconds=1)) == []
            assert client.zscore(redis_keys.EXPIRY, "cs_ghost") is None


async def test_a_claim_racing_a_commit_does_not_delay_its_event(
    own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dispatcher looks at the session between the commit's index intent and its
    script: the event it could not see yet is due as soon as the commit is in."""
    async with opened(own_redis) as store:
        with own_redis.client() as client:
            await store._load_scripts()
            redis_outbox.index_events(client, "cs_1", "pending", ["evt_1"])  # the intent
            assert await store.claim_due_events(NOW, 10, 30) == []  # no event yet
            monkeypatch.setattr(redis_sessions, "index_events", lambda *args: None)
            await store.commit(Commit(session(), None, None, (event(),)))  # the script lands
            (claimed,) = await store.claim_due_events(NOW, 10, 30)
            assert claimed.id == "evt_1"


async def test_a_commit_between_a_claims_look_and_its_settle_is_not_put_off(
    own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The narrowest window: the claim saw the intent and no event, then the whole
    commit lands, then the claim settles the due time on what it saw."""
    async with opened(own_redis) as store:
        await store._load_scripts()
        redis_outbox.index_events(store._redis, "cs_1", "pending", ["evt_1"])  # the intent
        settle = redis_outbox.DUE_SETTLE
        landed: list[bool] = []

        def commit_first(client: Any, keys: Any, args: Any) -> Any:
            if not landed:
                landed.append(True)
                commit = Commit(session(), None, None, (event(),))
                run_job(
                    store._commit(store._redis, commit=commit, stored=replace(session(), version=1))
                )
            return settle(client, keys, args)

        monkeypatch.setattr(redis_outbox, "DUE_SETTLE", commit_first)
        assert await store.claim_due_events(NOW, 10, 30) == []  # it looked too early
        assert landed
        monkeypatch.setattr(redis_outbox, "DUE_SETTLE", settle)
        (claimed,) = await store.claim_due_events(NOW, 10, 30)
        assert claimed.id == "evt_1"


async def test_index_entries_of_finished_events_are_filed_where_they_belong(
    own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that died after marking an event delivered but before filing it:
    listing and counting still see the event's real state, and repair the index."""
    async with opened(own_redis) as store:
        with own_redis.client() as client:
            await completed_checkout(store)
            (claimed,) = await store.claim_due_events(NOW, 10, 30)
            real_index = redis_outbox.index_events
            monkeypatch.setattr(redis_outbox, "index_events", lambda *args: None)
            await store.save_event(replace(claimed, state="delivered", lease_until=None))
            assert client.zscore(redis_keys.OUTBOX_LIVE, "evt_1") is not None  # not yet filed
            monkeypatch.setattr(redis_outbox, "index_events", real_index)
            assert await store.outbox_counts() == {"delivered": 1}
            assert client.zscore(redis_keys.OUTBOX_LIVE, "evt_1") is None
            assert [e.id for e in await store.list_events("delivered")] == ["evt_1"]


async def test_the_orphan_sweep_looks_at_an_open_session_s_holder_again_only_at_its_expiry(
    own_redis: RedisServer,
) -> None:
    """The sweep stays a few round trips however many sessions are open: a holder
    found open is put off to its session's expiry instead of being read every sweep."""
    async with opened(own_redis) as store:
        with own_redis.client() as client:
            await store.seed_stock({"item": 10})
            await store.commit(Commit(session("cs_open"), None))
            assert await store.hold("cs_open", {"item": 1}) == ()
            later = datetime.now(UTC) + timedelta(seconds=5)
            assert await store.release_orphan_holds(later) == 0
            expiry = session("cs_open").expires_at.timestamp()
            assert client.zscore(redis_keys.HOLDS, "cs_open") == pytest.approx(expiry)
            assert client.zrangebyscore(redis_keys.HOLDS, "-inf", later.timestamp()) == []
            await store.release("cs_open")
            assert client.zscore(redis_keys.HOLDS, "cs_open") is None
