"""Shared test configuration: a derandomised hypothesis profile for CI, and the
stores every behaviour suite runs against (memory, and Redis on a real server)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests import crashes
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


def _redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/test installs it)")
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


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_factory(request: pytest.FixtureRequest, store_kind: str) -> Iterator[StoreFactory]:
    """Fresh, empty stores of the parametrized kind."""
    url = None
    if store_kind == "redis":
        server: RedisServer = request.getfixturevalue("shared_redis")
        url = server.url
    factory = StoreFactory(store_kind, url)
    yield factory
    factory.close()
