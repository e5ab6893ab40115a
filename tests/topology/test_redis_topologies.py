"""The Redis Cluster and Sentinel helpers, proven with redis-py itself: each topology
serves reads, writes and scripts, and when a master is killed (-9) a replica takes
over and the same client object writes again within a bound. Failover tests restart
what they killed, so the next test finds the topology whole."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ClusterDownError, TryAgainError
from redis.sentinel import Sentinel

from tests.redis_cluster import ClusterServers
from tests.redis_sentinel import SentinelGroup, role
from tests.waiting import poll

pytestmark = [pytest.mark.slow, pytest.mark.redis_topology]
RECOVERY_SECONDS = 15.0  # writes succeed again this soon after the master is killed
TIMEOUT = 1.0  # a client's socket timeout: a dead node costs this much per attempt
# What a client may see while a failover is under way.
IN_FAILOVER = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError)
IN_CLUSTER_FAILOVER = (*IN_FAILOVER, ClusterDownError, TryAgainError)


@pytest.fixture
def cluster(redis_cluster: ClusterServers) -> Iterator[RedisCluster]:
    redis_cluster.flushall()
    client = RedisCluster.from_url(
        redis_cluster.seed_url, decode_responses=True, socket_timeout=TIMEOUT
    )
    yield client
    client.close()


@pytest.fixture
def sentinel(redis_sentinel: SentinelGroup) -> Iterator[Sentinel]:
    redis_sentinel.flushall()
    client = Sentinel(redis_sentinel.sentinels, socket_timeout=TIMEOUT)
    yield client
    client.close()


def master_client(sentinel: Sentinel, group: SentinelGroup) -> redis.Redis:
    client: redis.Redis = sentinel.master_for(
        group.master_name, socket_timeout=TIMEOUT, decode_responses=True
    )
    return client


def test_the_cluster_spreads_keys_over_every_master(
    redis_cluster: ClusterServers, cluster: RedisCluster
) -> None:
    keys = [f"key-{i}" for i in range(20)]
    assert {redis_cluster.master_of(key) for key in keys} == set(redis_cluster.masters())
    assert len(redis_cluster.masters()) == len(redis_cluster.replicas()) == 3
    for key in keys:
        assert cluster.set(key, key.upper())
    assert [cluster.get(key) for key in keys] == [key.upper() for key in keys]


def test_the_cluster_runs_a_script_on_keys_of_one_slot(cluster: RedisCluster) -> None:
    """A hash tag (`{order-1}`) puts both keys on one slot, as a script needs."""
    keys = ["{order-1}:stock", "{order-1}:log"]
    assert key_slot(keys[0].encode()) == key_slot(keys[1].encode())
    reserve = cluster.register_script(
        "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('RPUSH', KEYS[2], ARGV[1])"
    )
    assert reserve(keys=keys, args=["7"]) == 1
    assert reserve(keys=keys, args=["6"]) == 2
    assert cluster.get(keys[0]) == "6"
    assert cluster.lrange(keys[1], 0, -1) == ["7", "6"]


def test_the_cluster_fails_over_when_a_master_is_killed(
    redis_cluster: ClusterServers, cluster: RedisCluster
) -> None:
    key = "failover"
    assert cluster.set(key, "before")
    replicas = set(redis_cluster.replicas())
    dead = redis_cluster.kill_master_of(key)
    try:
        started = time.monotonic()
        poll(lambda: cluster.set(key, "after"), RECOVERY_SECONDS, ignoring=IN_CLUSTER_FAILOVER)
        print(f"cluster: writes again {time.monotonic() - started:.1f} s after the kill")
        promoted = redis_cluster.wait_for_failover(dead)
        assert promoted in replicas
        assert redis_cluster.master_of(key) == promoted
        assert cluster.get(key) == "after"
    finally:
        redis_cluster.restart(dead)
    assert dead in redis_cluster.replicas()
    assert len(redis_cluster.masters()) == 3


def test_the_sentinel_group_serves_its_master(
    redis_sentinel: SentinelGroup, sentinel: Sentinel
) -> None:
    master = master_client(sentinel, redis_sentinel)
    assert master.set("key", "value")
    assert master.get("key") == "value"
    assert sentinel.discover_master(redis_sentinel.master_name)[1] == redis_sentinel.master_port()


def test_the_sentinel_group_fails_over_when_the_master_is_killed(
    redis_sentinel: SentinelGroup, sentinel: Sentinel
) -> None:
    master = master_client(sentinel, redis_sentinel)
    assert master.set("key", "before")
    old = redis_sentinel.kill_master()
    try:
        started = time.monotonic()
        poll(lambda: master.set("key", "after"), RECOVERY_SECONDS, ignoring=IN_FAILOVER)
        print(f"sentinel: writes again {time.monotonic() - started:.1f} s after the kill")
        new = redis_sentinel.wait_for_failover(old)
        assert sentinel.discover_master(redis_sentinel.master_name)[1] == new
        assert master.get("key") == "after"
    finally:
        redis_sentinel.restart(old)
    assert redis_sentinel.master_port() == new
    assert role(old)[:3] == ["slave", "127.0.0.1", new]
