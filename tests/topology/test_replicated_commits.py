"""`REDIS_WAIT_REPLICAS`: a commit is acknowledged only once that many replicas have it
(`WAIT` on the commit's own connection, on a cluster at the session's node); fewer
in time is `StoreUnavailable` (a 503 the client retries, which then replays)."""

from __future__ import annotations

import pytest

from agentic_commerce.store.base import Commit, StoreUnavailable
from agentic_commerce.store.redis import RedisStore, Topology
from tests.redis_cluster import ClusterServers
from tests.redis_sentinel import SentinelGroup
from tests.redis_server import RedisServer
from tests.store.test_contract import record, session

pytestmark = pytest.mark.redis_topology


async def committed(store: RedisStore) -> None:
    try:
        first = Commit(session("cs_1"), None, record("cs_1\x1fk"))
        await store.commit(first)
        await store.commit(Commit(session("cs_1"), 1, record("cs_1\x1fk2")))
        loaded = await store.load_session("cs_1")
        assert loaded is not None and loaded.version == 2
    finally:
        await store.close()


async def test_a_commit_no_replica_has_is_not_acknowledged(own_redis: RedisServer) -> None:
    store = RedisStore(own_redis.url, timeout=0.4, wait_replicas=1)  # a node on its own
    try:
        with pytest.raises(StoreUnavailable, match="0 replica"):
            await store.commit(Commit(session("cs_1"), None, record("cs_1\x1fk")))
    finally:
        await store.close()


async def test_a_sentinel_master_s_commits_reach_its_replica(
    redis_sentinel: SentinelGroup,
) -> None:
    redis_sentinel.flushall()
    topology = Topology("sentinel", tuple(redis_sentinel.sentinels), redis_sentinel.master_name)
    await committed(RedisStore(None, timeout=5, topology=topology, wait_replicas=1))


async def test_a_cluster_s_commits_reach_the_replica_of_their_node(
    redis_cluster: ClusterServers,
) -> None:
    redis_cluster.flushall()
    store = RedisStore(
        redis_cluster.seed_url, timeout=5, topology=Topology("cluster"), wait_replicas=1
    )
    await committed(store)
