"""The stores the behaviour suites run against: a fresh memory store, or a Redis
store on the test server, a Redis Cluster or a Sentinel group (flushed before
each test)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import redis
import trio
import trio.lowlevel
import trio.testing

from agentic_commerce.store.base import Store, StoreUnavailable
from agentic_commerce.store.memory import MemoryStore
from agentic_commerce.store.redis import RedisStore, Topology
from agentic_commerce.store.redis.batcher import Round, Rounds, drive, joined, stages_of
from agentic_commerce.store.redis.client import SINGLE, run_stages

T = TypeVar("T")

STORE_KINDS = ("memory", "redis")
TOPOLOGY_KINDS = ("cluster", "sentinel")  # the Redis store on those, where asked
REDIS_TIMEOUT = 5.0  # generous: a loaded test machine must not turn into 503s


class LocalRedisStore(RedisStore):
    """The Redis store as tests drive it. Outside trio (the synchronous contract
    tests) and under a `MockClock`, each call runs inline: it never suspends, and
    virtual time cannot jump while Redis answers (a thread would leave trio idle,
    and the autojump clock would fire every timer). Otherwise: worker threads."""

    async def _round(self, stages: Any) -> Any:
        if not _inline():
            return await super()._round(stages)
        if self._cluster:
            return run_stages(stages_of(stages))
        return await _execute(stages)

    async def _load_scripts(self) -> None:
        if _inline():
            self._load_scripts_now()
        else:
            await super()._load_scripts()


def run_job(job: Rounds[T]) -> T:
    """A store's rounds job run to its end in this thread, one pipeline a round."""
    driving = drive(job, _execute)
    try:
        driving.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("an inline round suspended")


async def _execute(stages: Round) -> Any:
    return joined(stages_of(stages)).execute(raise_on_error=False)


def _inline() -> bool:
    try:
        return isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)
    except RuntimeError:
        return True


class StoreOutage:
    """A store mixin: the operations named in `down` raise `StoreUnavailable`."""

    down: frozenset[str] = frozenset()

    def __getattribute__(self, name: str) -> Any:
        if name in object.__getattribute__(self, "down"):

            async def unavailable(*args: Any, **kwargs: Any) -> Any:
                raise StoreUnavailable(f"{name}: the test says the store is down")

            return unavailable
        return object.__getattribute__(self, name)


class StoreCalls:
    """A store mixin: the names of the operations called, in order (`calls`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.calls: list[str] = []
        super().__init__(*args, **kwargs)

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if not name.startswith("_") and inspect.iscoroutinefunction(value):
            object.__getattribute__(self, "calls").append(name)
        return value


class StoreFactory:
    """Makes fresh, empty stores of one kind (Redis is flushed for each: `flush`),
    optionally with test mixins (e.g. a gate) in front."""

    def __init__(
        self,
        kind: str,
        redis_url: str | None = None,
        *,
        topology: Topology = SINGLE,
        flush: Callable[[], None] | None = None,
    ) -> None:
        self.kind = kind
        self.redis_url = redis_url
        self.topology = topology
        self._flush = flush or self._flush_database
        self._made: list[Store] = []

    def _flush_database(self) -> None:
        if self.redis_url is not None:
            with redis.Redis.from_url(self.redis_url) as client:
                client.flushdb()

    def __call__(self, *mixins: type) -> Any:
        self._flush()
        base: type[Store] = MemoryStore if self.kind == "memory" else LocalRedisStore
        cls = type(f"{''.join(m.__name__ for m in mixins)}{base.__name__}", (*mixins, base), {})
        if self.kind == "memory":
            store = cls()
        else:
            store = cls(self.redis_url, timeout=REDIS_TIMEOUT, topology=self.topology)
        self._made.append(store)
        return store

    def close(self) -> None:
        for store in self._made:
            if isinstance(store, RedisStore):
                trio.run(store.close)
