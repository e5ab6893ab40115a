"""The batcher's promises, on a real Redis with real worker threads: concurrent
calls share round trips, each gets its own replies and only its own errors, a
call that gave up is never sent, and a failed round trip fails each of its calls
cleanly, after which service goes on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis
import trio
import trio.testing

from agentic_commerce.store.base import Commit, StoreUnavailable
from agentic_commerce.store.redis import RedisStore
from tests.redis_server import RedisServer
from tests.store.test_redis_store import opened, session
from tests.store.test_round_trips import wire

__all__ = ["wire"]  # the fixture, used here by name
N = 30


async def in_flight(store: RedisStore, nursery: trio.Nursery) -> Callable[[], Awaitable[None]]:
    """One call on its way to Redis, held there (a `BLPOP` on an empty list) until the
    returned function lets it go: what is called meanwhile waits for the next hop."""
    nursery.start_soon(store._one, lambda p: p.blpop(["gate"], 5))
    await trio.testing.wait_all_tasks_blocked()

    async def release() -> None:
        """The push, over a raw socket: no redis-py send for the wire to count."""
        kwargs = store._redis.connection_pool.connection_kwargs
        stream = await trio.open_tcp_stream(kwargs["host"], kwargs["port"])
        async with stream:
            await stream.send_all(b"*3\r\n$5\r\nRPUSH\r\n$4\r\ngate\r\n$1\r\n1\r\n")
            assert await stream.receive_some() == b":1\r\n"

    return release


async def test_concurrent_calls_share_round_trips_and_each_gets_its_own_reply(
    own_redis: RedisServer, wire: list[int]
) -> None:
    async with opened(own_redis) as store:
        await store.seed_stock({"p": N})
        for i in range(N):
            await store.commit(Commit(session(f"cs_{i}"), None, None))
        wire.clear()
        loaded: dict[int, Any] = {}
        short: dict[int, tuple[str, ...]] = {}

        async def load(i: int) -> None:
            loaded[i] = await store.load_session(f"cs_{i}")

        async def hold(i: int) -> None:
            short[i] = await store.hold(f"cs_{i}", {"p": 2})  # only half can have 2

        async with trio.open_nursery() as nursery:
            for i in range(N):
                nursery.start_soon(load, i)
                nursery.start_soon(hold, i)
        assert all(loaded[i].id == f"cs_{i}" for i in range(N))
        assert sorted(len(s) for s in short.values()) == [0] * (N // 2) + [1] * (N // 2)
        assert (await store.stock("p")).reserved == N
        assert len(wire) <= 4, f"{2 * N} calls took {len(wire)} round trips"


async def test_a_failing_command_fails_its_own_call_only(
    own_redis: RedisServer, wire: list[int]
) -> None:
    async with opened(own_redis) as store:
        await store.commit(Commit(session("cs_1"), None, None))
        wire.clear()
        results: list[Any] = []

        async def fine() -> None:
            results.append(await store.load_session("cs_1"))

        async def wrong() -> None:
            with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
                await store._one(lambda p: p.incr("acs:{cs_1}:session"))  # a hash
            results.append("refused")

        async with trio.open_nursery() as nursery:
            release = await in_flight(store, nursery)
            for _ in range(5):
                nursery.start_soon(fine)
            nursery.start_soon(wrong)
            await trio.testing.wait_all_tasks_blocked()
            await release()
        assert sorted(str(getattr(r, "id", r)) for r in results) == ["cs_1"] * 5 + ["refused"]
        assert len(wire) == 2  # the held call, then the six merged


async def test_a_call_that_gave_up_before_its_round_was_sent_is_never_sent(
    own_redis: RedisServer,
) -> None:
    async with opened(own_redis) as store:
        async with trio.open_nursery() as nursery:
            release = await in_flight(store, nursery)
            with trio.move_on_after(0):
                await store._one(lambda p: p.set("never", 1))
            await release()
            await store._one(lambda p: p.set("sent", 1))  # after the one given up
        with own_redis.client() as client:
            assert client.get("sent") == b"1"
            assert client.get("never") is None


async def test_a_lost_round_trip_fails_each_of_its_calls_then_service_goes_on(
    own_redis: RedisServer,
) -> None:
    async with opened(own_redis, timeout=1.0) as store:
        await store.commit(Commit(session("cs_1"), None, None))
        await trio.to_thread.run_sync(own_redis.kill)
        failures: list[BaseException] = []

        async def load() -> None:
            try:
                await store.load_session("cs_1")
            except StoreUnavailable as exc:
                failures.append(exc)

        async with trio.open_nursery() as nursery:
            for _ in range(N):
                nursery.start_soon(load)
        assert len(failures) == N
        await trio.to_thread.run_sync(own_redis.start)  # same port, same AOF
        loaded = await store.load_session("cs_1")
        assert loaded is not None and loaded.id == "cs_1"
