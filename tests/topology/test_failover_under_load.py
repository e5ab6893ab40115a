"""A failover under load, with the real server on a real Redis Cluster and Sentinel
group: a master is killed mid-load and its replica promoted. Meanwhile the server
answers only 503 with `Retry-After` (never a 500), it recovers by itself, and no
acknowledged session or order is lost."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio

from tests.chaos.test_redis_chaos import load_through_fault
from tests.redis_cluster import ClusterServers
from tests.redis_sentinel import SentinelGroup

pytestmark = [pytest.mark.slow, pytest.mark.redis_topology]
RECOVERY_SECONDS = 2.0  # requests succeed again this soon after the failover
SERVER_ENV = {
    "REDIS_TIMEOUT_SECONDS": "1",
    "RATE_LIMIT_PER_MINUTE": "1000000",
    "LOG_LEVEL": "error",
    "REDIS_WAIT_REPLICAS": "1",  # what keeps an acknowledged order through a failover
}


def fail_over_under_load(env: dict[str, str], fail_over: Callable[[], None]) -> None:
    """The chaos suite's load and checks, with `fail_over` a third of the way in (kill a
    master, wait for its replica's promotion, bring the old master back as a replica:
    with `REDIS_WAIT_REPLICAS=1` commits wait for one)."""

    async def fault() -> None:
        await trio.to_thread.run_sync(fail_over)

    load_through_fault(
        {**SERVER_ENV, **env}, fault, recovery_seconds=RECOVERY_SECONDS, time_limit=180
    )


def test_a_cluster_master_fails_over_under_load(redis_cluster: ClusterServers) -> None:
    redis_cluster.flushall()
    dead: list[int] = []

    def fail_over() -> None:
        dead.append(redis_cluster.kill_master_of("acs:expiry"))  # every session writes there
        redis_cluster.wait_for_failover(dead[0])
        redis_cluster.restart(dead.pop())

    try:
        env = {"REDIS_MODE": "cluster", "REDIS_URL": redis_cluster.seed_url}
        fail_over_under_load(env, fail_over)
    finally:  # a failed failover: the topology whole for the next test
        for port in dead:
            redis_cluster.restart(port)


def test_the_sentinel_master_fails_over_under_load(redis_sentinel: SentinelGroup) -> None:
    redis_sentinel.flushall()
    dead: list[int] = []

    def fail_over() -> None:
        dead.append(redis_sentinel.kill_master())
        redis_sentinel.wait_for_failover(dead[0])
        redis_sentinel.restart(dead.pop())

    try:
        sentinels = ",".join(f"{host}:{port}" for host, port in redis_sentinel.sentinels)
        env = {
            "REDIS_MODE": "sentinel",
            "REDIS_SENTINELS": sentinels,
            "REDIS_SENTINEL_MASTER": redis_sentinel.master_name,
        }
        fail_over_under_load(env, fail_over)
    finally:  # a failed failover: the topology whole for the next test
        for port in dead:
            redis_sentinel.restart(port)
