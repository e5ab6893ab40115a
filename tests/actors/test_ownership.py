"""Session leases on a real Redis: held long and renewed rarely (the keeper's work
does not grow with live sessions), yet a dead owner's sessions move within a TTL,
and an instance whose registration lapsed drops every session it ran."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import trio
import trio.testing

from agentic_commerce.actors.ownership import LEASE_HOLD_TTLS, Ownership, TakeOver
from agentic_commerce.store.redis import keys as redis_keys
from tests.redis_server import RedisServer
from tests.stores import StoreCalls, StoreFactory

TTL = 0.5


class Sessions:
    """The registry as the keeper sees it: which sessions are live, and stops."""

    def __init__(self) -> None:
        self.live_ids: set[str] = set()
        self.stopped: list[str] = []

    def live(self) -> dict[str, Any]:
        return dict.fromkeys(self.live_ids)

    def stop(self, session_id: str) -> None:
        self.stopped.append(session_id)
        self.live_ids.discard(session_id)


@pytest.fixture
def redis_factory(shared_redis: RedisServer) -> Any:
    factory = StoreFactory("redis", shared_redis.url)
    yield factory
    factory.close()


def instance(store: Any, name: str) -> tuple[Ownership, Sessions]:
    sessions = Sessions()
    owner = Ownership(store, sessions, f"http://{name}", TTL, instance_id=name)  # type: ignore[arg-type]
    return owner, sessions


async def test_the_keeper_renews_no_lease_until_half_its_hold_has_passed(
    autojump_clock: trio.testing.MockClock, redis_factory: StoreFactory
) -> None:
    store = redis_factory(StoreCalls)
    a, sessions = instance(store, "a")
    await a.join()
    for n in range(50):
        assert await a.locate(f"cs_{n}") is None
        sessions.live_ids.add(f"cs_{n}")
    renewed: list[list[str]] = []
    renew = store.renew_leases

    async def spy(instance_id: str, session_ids: Any, ttl: float) -> list[str]:
        renewed.append(list(session_ids))
        return list(await renew(instance_id, session_ids, ttl))

    store.renew_leases = spy
    for _ in range(30):  # ten TTLs of rounds
        await a._round()
        await trio.sleep(TTL / 3)
    assert renewed and all(batch == [] for batch in renewed)
    await trio.sleep(LEASE_HOLD_TTLS * TTL / 2)
    await a._round()
    assert sorted(renewed[-1]) == sorted(f"cs_{n}" for n in range(50))  # each once, now
    with redis.Redis.from_url(redis_url(store)) as r:
        held = r.pttl(redis_keys.lease_key("cs_0"))
    assert held > (LEASE_HOLD_TTLS - 1) * TTL * 1000


def redis_url(store: Any) -> str:
    kwargs = store._redis.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


async def a_runs_cs_1_beside_b(store: Any) -> tuple[Ownership, Sessions, Ownership]:
    """Two registered instances; a runs cs_1 (live there)."""
    a, sessions = instance(store, "a")
    b, _ = instance(store, "b")
    await a.join()
    await b.join()
    assert await a.locate("cs_1") is None
    sessions.live_ids.add("cs_1")
    return a, sessions, b


async def test_a_dead_owners_session_is_taken_over_within_a_ttl(
    redis_factory: StoreFactory,
) -> None:
    _, _, b = await a_runs_cs_1_beside_b(redis_factory())
    assert await b.locate("cs_1") == "http://a"  # a is registered: forward to it
    # a stops renewing its registration (it died); its lease is held for minutes.
    started = trio.current_time()
    with trio.fail_after(5 * TTL):
        while await b.locate("cs_1") is not None:
            await b._round()
            await trio.sleep(TTL / 10)
    assert trio.current_time() - started <= 2 * TTL


async def test_a_silent_but_registered_owner_keeps_its_session(
    redis_factory: StoreFactory,
) -> None:
    a, _, b = await a_runs_cs_1_beside_b(redis_factory())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(a.keep)  # a keeps renewing but does not answer HTTP
        assert await b.take_over("cs_1", "http://a") is TakeOver.TIMED_OUT
        nursery.cancel_scope.cancel()
    # Once a stops renewing, its registration lapses within a TTL: taken over.
    with trio.fail_after(10 * TTL):
        while (outcome := await b.take_over("cs_1", "http://a")) is TakeOver.TIMED_OUT:
            pass
    assert outcome is TakeOver.TAKEN
    assert await b.locate("cs_1") is None


async def test_an_instance_whose_registration_lapsed_drops_its_sessions(
    redis_factory: StoreFactory,
) -> None:
    store = redis_factory()
    a, sessions = instance(store, "a")
    await a.join()
    for sid in ("cs_1", "cs_2"):
        assert await a.locate(sid) is None
        sessions.live_ids.add(sid)
    await a._round()
    assert sessions.stopped == []
    with redis.Redis.from_url(redis_url(store)) as r:  # cut off for a TTL: it lapsed
        r.zrem(redis_keys.MEMBERS_KEY, a.member.name)
    await a._round()
    assert sorted(sessions.stopped) == ["cs_1", "cs_2"]
    assert not a.fenced  # nobody else took its place: it serves, sessions come back
    b, _ = instance(store, "b")
    await b.join()
    assert await b.locate("cs_1") == "http://a"  # its lease still names a, which lives


async def test_an_instance_that_could_not_renew_asks_again_before_it_serves_a_session(
    redis_factory: StoreFactory,
) -> None:
    """Its keeper was cut off from Redis (its registration lapsed): another instance
    took its session. The next request there renews first, so it forwards instead of
    serving the session from its own actor."""
    store = redis_factory()
    a, sessions, b = await a_runs_cs_1_beside_b(store)
    with redis.Redis.from_url(redis_url(store)) as r:  # a's registration lapsed
        r.zrem(redis_keys.MEMBERS_KEY, a.member.name)
        r.delete(redis_keys.instance_key("a"))
    a._joined_at -= 10 * TTL  # its keeper has not renewed for a while
    assert await b.locate("cs_1") is None  # a is gone for b: b takes cs_1 over
    assert await a.locate("cs_1") == "http://b"
    assert sessions.stopped == ["cs_1"]
