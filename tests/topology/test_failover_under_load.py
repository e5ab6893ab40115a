"""A failover under load, with the real server on a real Redis Cluster and Sentinel
group: a master is killed mid-load and its replica promoted. Meanwhile the server
answers only 503 with `Retry-After` (never a 500), it recovers by itself, and no
acknowledged session or order is lost."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
import trio

from tests.chaos.test_redis_chaos import REQUESTS, Load, durable, worker
from tests.e2e.server import running_server
from tests.real_requests import HEADERS
from tests.redis_cluster import ClusterServers
from tests.redis_sentinel import SentinelGroup

pytestmark = [pytest.mark.slow, pytest.mark.redis_topology]
WORKERS = 4
AFTER_SECONDS = 3.0  # the load runs on this long after the failover
RECOVERY_SECONDS = 2.0  # requests succeed again this soon after it
SERVER_ENV = {
    "REDIS_TIMEOUT_SECONDS": "1",
    "RATE_LIMIT_PER_MINUTE": "1000000",
    "LOG_LEVEL": "error",
    "REDIS_WAIT_REPLICAS": "1",  # what keeps an acknowledged order through a failover
}


def fail_over_under_load(env: dict[str, str], fail_over: Callable[[], None]) -> None:
    """Run the load, call `fail_over` a third of the way in (kill a master, wait for its
    replica's promotion, bring the old master back as a replica: with
    `REDIS_WAIT_REPLICAS=1` commits wait for one), then check every answer and every
    acknowledged session."""
    load = Load()
    with running_server(**SERVER_ENV, **env) as server:

        async def chaos() -> float:
            await load.midway.wait()
            await trio.to_thread.run_sync(fail_over)
            back = time.monotonic()
            await trio.sleep(AFTER_SECONDS)
            await load.sent_all.wait()
            load.done.set()
            return back

        async def main() -> float:
            with trio.fail_after(180):
                async with trio.open_nursery() as nursery:
                    for _ in range(WORKERS):
                        nursery.start_soon(worker, server.base_url, load)
                    return await chaos()

        back = trio.run(main)

        statuses = [o.status for o in load.outcomes]
        assert set(statuses) <= {200, 201, 503}, sorted(set(statuses))
        assert statuses.count(503) > 0, "the load never met the failover"
        assert load.bare_503s == 0
        assert sum(s < 300 for s in statuses) > REQUESTS // 2
        # Recovered without a restart of the server, and for good.
        recovered = min(o.started for o in load.outcomes if o.started > back and o.status < 300)
        assert recovered - back < RECOVERY_SECONDS
        later = [o.status for o in load.outcomes if o.started > recovered + 0.5]
        assert later and all(s < 300 for s in later), later

        with httpx.Client(base_url=server.base_url, headers=HEADERS, timeout=10) as http:
            for sid, last in load.acked.items():
                now = http.get(f"/checkout_sessions/{sid}")
                assert now.status_code == 200, (sid, now.status_code)
                if sid in load.uncertain:  # a 503'd change may or may not have landed
                    assert now.json()["status"] in (last["status"], "completed")
                else:
                    assert durable(now.json()) == durable(last)


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
