"""Shared test configuration: a derandomised hypothesis profile for CI, and the
stores every behaviour suite runs against (memory, and Redis on a real server)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from agentic_commerce.store.redis import Topology
from tests import crashes
from tests.redis_cluster import ClusterServers, cluster_servers
from tests.redis_sentinel import SentinelGroup, sentinel_group
from tests.redis_server import RedisServer, redis_server
from tests.stores import STORE_KINDS, StoreFactory

settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True)
def no_actor_crashes(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail any test in which an actor crashed or a supervisor restarted a child,
    unless it is marked `kills_actors` (see tests/crashes.py)."""
    allowed = request.node.get_closest_marker("kills_actors") is not None
    crashes.Watch.allowed = allowed
    before = crashes.crash_total()
    yield
    crashes.Watch.allowed = False
    grown = crashes.crash_total() - before
    if grown and not allowed:
        pytest.fail(f"{grown:g} unexpected actor crash(es) or restart(s) (see the log)")


def _require(*programs: str) -> None:
    missing = [program for program in programs if shutil.which(program) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (scripts/test installs redis-server)")


def _redis_server() -> Iterator[RedisServer]:
    _require("redis-server")
    with redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def shared_redis() -> Iterator[RedisServer]:
    """One real redis-server for the whole run (tests flush it)."""
    yield from _redis_server()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, to kill, restart and pause at will."""
    yield from _redis_server()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[ClusterServers]:
    """A real Redis Cluster (3 masters, 3 replicas) for the whole run, started by the
    first test that asks (tests flush it, and restart the nodes they kill)."""
    _require("redis-server", "redis-cli")
    with cluster_servers() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[SentinelGroup]:
    """A real Sentinel group (master, replica, 3 sentinels) for the whole run, started
    by the first test that asks (tests flush it, and restart the nodes they kill)."""
    _require("redis-server")
    with sentinel_group() as group:
        yield group


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_factory(request: pytest.FixtureRequest, store_kind: str) -> Iterator[StoreFactory]:
    """Fresh, empty stores of the parametrized kind."""
    if store_kind == "cluster":
        cluster: ClusterServers = request.getfixturevalue("redis_cluster")
        topology = Topology("cluster")
        factory = StoreFactory(
            store_kind, cluster.seed_url, topology=topology, flush=cluster.flushall
        )
    elif store_kind == "sentinel":
        group: SentinelGroup = request.getfixturevalue("redis_sentinel")
        topology = Topology("sentinel", tuple(group.sentinels), group.master_name)
        factory = StoreFactory(store_kind, None, topology=topology, flush=group.flushall)
    elif store_kind == "redis":
        server: RedisServer = request.getfixturevalue("shared_redis")
        factory = StoreFactory(store_kind, server.url)
    else:
        factory = StoreFactory(store_kind)
    yield factory
    factory.close()
