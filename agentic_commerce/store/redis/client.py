"""How the Redis store reaches Redis: one node, a Sentinel group or a Redis Cluster,
and how it runs its jobs' round trips there.

On one node (also the master a Sentinel group names) a round's pipelines are
merged with those of concurrent calls (`batcher`) and one Redis runs them in
order. A cluster runs a pipeline's commands on their slots' nodes in parallel,
so nothing orders commands on different nodes: a job's stages (intents, then
the truth, then what follows it) go one after the other, each stage in parallel
per node, so a crash or a failed node between two stages leaves at most an index
entry pointing at nothing, as on one node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import redis
import trio
from opentelemetry.trace import SpanKind
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError
from redis.sentinel import Sentinel

from agentic_commerce import tracing
from agentic_commerce.store.base import StoreUnavailable
from agentic_commerce.store.redis.batcher import Batcher, Round, Rounds, drive, stages_of
from agentic_commerce.store.redis.keys import INTENT_GRACE_SECONDS, Client
from agentic_commerce.store.redis.scripts import Script
from agentic_commerce.store.redis.tracing import describe, server_of

T = TypeVar("T")
Mode = Literal["single", "cluster", "sentinel"]
UNAVAILABLE = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.MasterDownError,
)


@dataclass(frozen=True, slots=True)
class Topology:
    """Where Redis is. `single`: the node of the URL. `cluster`: the URL names any
    seed node. `sentinel`: the sentinels and the master's name (the URL, if any,
    gives the database and credentials)."""

    mode: Mode = "single"
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str | None = None


SINGLE = Topology()


class ClusterRounds:
    """Rounds on a Redis Cluster: each job's stages in order, in a worker thread
    (redis-py's cluster pipeline sends a stage to its nodes at once)."""

    def __init__(self, hops: int) -> None:
        self._limiter = trio.CapacityLimiter(hops)

    async def round(self, stages: Round) -> list[Any]:
        return await trio.to_thread.run_sync(
            partial(run_stages, stages_of(stages)),
            limiter=self._limiter,
            abandon_on_cancel=True,
        )


def run_stages(stages: Sequence[Any]) -> list[Any]:
    """The replies of each stage after the other, up to the first that failed: a
    stage never runs after one of its intents did not land."""
    replies: list[Any] = []
    for stage in stages:
        if len(stage):
            replies += stage.execute(raise_on_error=False)
            if any(isinstance(reply, Exception) for reply in replies):
                break
    return replies


def connect(url: str | None, topology: Topology, *, timeout: float) -> Client:
    """The redis-py client for a topology, every wait bounded by `timeout`."""
    bounds: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if topology.mode == "cluster":
        if url is None:
            raise ValueError("a Redis Cluster needs the URL of a seed node")
        return RedisCluster.from_url(url, **bounds)
    if topology.mode == "sentinel":
        if not topology.sentinels or topology.master is None:
            raise ValueError("Sentinel needs its sentinels and the master's name")
        group = Sentinel(list(topology.sentinels), sentinel_kwargs=bounds, **bounds)
        return group.master_for(topology.master, **bounds, **_credentials(url))
    if url is None:
        raise ValueError("Redis needs a URL")
    pool = redis.BlockingConnectionPool.from_url(url, timeout=timeout, **bounds)
    return redis.Redis(connection_pool=pool)


def _credentials(url: str | None) -> dict[str, Any]:
    """Database and credentials from a URL, for the master a Sentinel group names."""
    if url is None:
        return {}
    parts = urlsplit(url)
    database = parts.path.strip("/")
    return {
        "db": int(database) if database else 0,
        "username": parts.username,
        "password": parts.password,
    }


class RedisBase:
    """What every capability of the Redis store stands on: the client and the runner
    of its jobs' round trips."""

    durable = True

    def __init__(
        self,
        url: str | None,
        *,
        timeout: float = 2.0,
        pool_size: int = 1,
        topology: Topology = SINGLE,
        wait_replicas: int = 0,
    ) -> None:
        self._timeout = timeout
        self._wait_replicas = wait_replicas
        self._redis = connect(url, topology, timeout=timeout)
        self._cluster = topology.mode == "cluster"
        self._runner: Batcher | ClusterRounds = (
            ClusterRounds(hops=max(pool_size, 8)) if self._cluster else Batcher(hops=pool_size)
        )
        self._grace_us = int(INTENT_GRACE_SECONDS * 1e6)
        self._server = server_of(self._redis)  # what each round's span says of Redis

    async def _rounds(self, job: Callable[[Client], Rounds[T]]) -> T:
        """A job, its round trips merged with those of concurrent calls (on one node).
        An empty script cache (Redis restarted, or a replica promoted) is refilled
        and the job run again, which is safe as a failed script wrote nothing and
        the plain commands around scripts are idempotent."""
        try:
            try:
                return await drive(job(self._redis), self._round)
            except NoScriptError:
                await self._load_scripts()
                return await drive(job(self._redis), self._round)
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"Redis: {type(exc).__name__}") from None

    async def _one(self, fill: Callable[[Client], Any]) -> Any:
        """The reply to one command, queued on a pipeline by `fill`."""
        return await self._rounds(partial(_one, fill=fill))

    async def _round(self, stages: Round) -> list[Any]:
        """One round (on a cluster, one per stage), abandoned at the timeout; a span
        of the caller's trace when that records."""
        with self._span(stages):
            with trio.move_on_after(self._timeout):
                return await self._runner.round(stages)
            raise StoreUnavailable(f"Redis did not answer within {self._timeout:g}s")

    def _span(self, stages: Round) -> tracing.Active | tracing.Nothing:
        if not tracing.recording():
            return tracing.NOTHING
        name, attributes = describe(stages_of(stages), self._server)
        return tracing.child_span(name, attributes, SpanKind.CLIENT)

    async def _load_scripts(self) -> None:
        """Every script into every master's cache (a cluster sends them to all)."""
        with trio.move_on_after(self._timeout):
            await trio.to_thread.run_sync(self._load_scripts_now, abandon_on_cancel=True)
            return
        raise StoreUnavailable(f"Redis did not answer within {self._timeout:g}s")

    def _load_scripts_now(self) -> None:
        for script in Script.registry:
            self._redis.script_load(script.source)

    async def ping(self) -> bool:
        try:
            if self._cluster:  # every node: the store needs all its slots
                return bool(await trio.to_thread.run_sync(self._redis.ping))
            return bool(await self._one(lambda p: p.ping()))
        except (StoreUnavailable, *UNAVAILABLE):
            return False

    async def close(self) -> None:
        if self._cluster:
            self._redis.close()
        else:
            self._redis.connection_pool.disconnect()


def _one(r: Client, fill: Callable[[Client], Any]) -> Rounds[Any]:
    [reply] = yield fill(r.pipeline(transaction=False))
    return reply
