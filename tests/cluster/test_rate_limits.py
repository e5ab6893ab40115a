"""Rate limits across real server processes on one real redis-server: each instance
judges requests on its own account and settles with Redis in batches. One merchant
hammered through two instances stays within the bound the README states
("Security"); an address throttled on one instance is refused by the other within a
settlement round; and GETs of a live session make no Redis command at all."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from tests.cluster.cluster import (
    API_KEY,
    HEADERS,
    Api,
    Instance,
    cluster_env,
    running_cluster,
)
from tests.redis_server import RedisServer
from tests.waiting import poll

pytestmark = pytest.mark.slow
LEASE_TTL = 2.0
PER_MINUTE, BURST, SETTLE = 600, 20, 0.25
INTERVAL = 60 / PER_MINUTE
# Δ in the README's bound: one settlement's round trip, worker-thread hop included,
# here generously (a loaded test machine); the README's D is 2·S + 4·Δ.
ROUND_TRIP = 0.1
HAMMER_SECONDS = 3.0
THREADS_PER_INSTANCE = 2
UNKNOWN = "/checkout_sessions/cs.unknown"  # 404 once admitted: no session, no store call


def hammer(instance: Instance, until: float) -> Counter[tuple[str, int]]:
    """GETs as fast as one connection goes until `until`: how many of each status."""
    statuses: Counter[tuple[str, int]] = Counter()
    with httpx.Client(base_url=instance.base_url, headers=HEADERS, timeout=10) as client:
        while time.monotonic() < until:
            statuses[instance.name, client.get(UNKNOWN).status_code] += 1
    return statuses


def test_one_merchant_through_two_instances_stays_within_the_bound(
    own_redis: RedisServer,
) -> None:
    env = cluster_env(
        own_redis.url,
        LEASE_TTL,
        RATE_LIMIT_PER_MINUTE=str(PER_MINUTE),
        RATE_LIMIT_BURST=str(BURST),
        RATE_LIMIT_SETTLE_SECONDS=str(SETTLE),
    )
    with running_cluster(2, env) as cluster:
        connections = cluster.instances * THREADS_PER_INSTANCE
        with ThreadPoolExecutor(len(connections)) as pool:
            started = time.monotonic()
            until = started + HAMMER_SECONDS
            counts = list(pool.map(hammer, connections, [until] * len(connections)))
            seconds = time.monotonic() - started
        statuses = sum(counts, Counter[tuple[str, int]]())

    assert {status for _, status in statuses} <= {404, 429}, statuses
    admitted = {name: statuses[name, 404] for name in ("a", "b")}
    assert all(admitted.values()), statuses  # both instances served the merchant
    assert sum(statuses.values()) > 10 * sum(admitted.values())  # the limit was hit hard
    window = 2 * SETTLE + 4 * ROUND_TRIP  # D
    others = 1 * (BURST + window / INTERVAL)  # (N - 1)·(B + D/T)
    bound = BURST + seconds / INTERVAL + others
    independent = 2 * (BURST + seconds / INTERVAL)  # two limits that never settle
    assert bound < independent  # so the check below can fail
    assert sum(admitted.values()) <= bound, (admitted, round(seconds, 2), bound)


def get_with(instance: Instance, key: str) -> httpx.Response:
    return httpx.get(
        f"{instance.base_url}{UNKNOWN}",
        headers={**HEADERS, "Authorization": f"Bearer {key}"},
        timeout=10,
    )


def refusal(instance: Instance) -> httpx.Response | None:
    """The instance's answer to the right key when it is a 429, else None."""
    response = get_with(instance, API_KEY)
    return response if response.status_code == 429 else None


def test_an_address_throttled_on_one_instance_is_refused_by_the_other(
    own_redis: RedisServer,
) -> None:
    settle = 0.5
    env = cluster_env(own_redis.url, LEASE_TTL, RATE_LIMIT_SETTLE_SECONDS=str(settle))
    with running_cluster(2, env) as cluster:
        a, b = cluster.instances
        assert get_with(b, API_KEY).status_code == 404
        for _ in range(10):  # AUTH_FAILURES_PER_MINUTE's default, from this address
            assert get_with(a, "wrong_key_c0ffee").status_code == 401
        counted = time.monotonic()  # the tenth count is in Redis
        assert get_with(a, API_KEY).status_code == 429  # its own count: at once

        refused = poll(lambda: refusal(b), 10, interval=0.01)
        learned = time.monotonic() - counted
        assert 1 <= int(refused.headers["Retry-After"]) <= 6
        assert learned < settle + 2 * ROUND_TRIP + 0.3, learned  # one round, and polling


def commands(client: redis.Redis) -> int:
    """Every command Redis has run (this INFO too)."""
    return int(client.info("stats")["total_commands_processed"])


def test_gets_of_a_live_session_make_no_redis_command(own_redis: RedisServer) -> None:
    """Background work (the metrics sampler) goes on, so the commands during a burst of
    GETs are compared with those of an idle stretch as long. The rate-limit settler is
    quieted too: its rounds carry the burst's counts (a few commands every 0.25 s, so
    more on a slower machine), which is the settler's cost, not the GETs'."""
    quiet = {
        "LEASE_TTL_SECONDS": "60",
        "EXPIRY_SWEEP_SECONDS": "60",
        "RATE_LIMIT_SETTLE_SECONDS": "60",
    }
    gets = 600
    env = cluster_env(own_redis.url, LEASE_TTL, **quiet)
    with running_cluster(1, env) as cluster, own_redis.client() as client:
        api = Api(cluster.instances[0])
        session_id = api.create().body["id"]
        assert api.get(session_id).status == 200  # served from the live actor

        before, started = commands(client), time.monotonic()
        for _ in range(gets):
            assert api.http.get(f"/checkout_sessions/{session_id}").status_code == 200
        during, seconds = commands(client) - before, time.monotonic() - started

        before = commands(client)
        time.sleep(seconds)  # an idle stretch as long as the burst: background only
        idle = commands(client) - before
        api.close()

    assert during - idle < gets / 20, (during, idle, round(seconds, 2))
