"""A lone instance (REDIS_URL without INSTANCE_URL) uses its Redis alone: nobody can
forward to it, and it keeps its actors' state cached. Real processes on a real
redis-server: a second instance of either kind refuses to start beside it, a
restart after a crash waits for the dead one's registration to lapse, and a
clean stop lets the next start at once."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.cluster.cluster import (
    CREATE,
    HEADERS,
    UPDATE_ADDRESS,
    Instance,
    cluster_env,
    post_headers,
)
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow
LEASE_TTL = 1.0
LONE = {"INSTANCE_URL": "", "INTERNAL_PORT": ""}
REFUSAL_TIMEOUT = 20.0


@contextmanager
def started(instance: Instance) -> Iterator[Instance]:
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()
        instance.cleanup()


def refused(instance: Instance) -> str:
    """Start `instance`, expect it to exit with status 2; its log."""
    instance.start()
    assert instance.process is not None
    try:
        status = instance.process.wait(timeout=REFUSAL_TIMEOUT)
    except subprocess.TimeoutExpired:
        instance.stop()
        raise AssertionError(f"{instance.name} started beside a lone instance") from None
    log = instance.log_path.read_text() if instance.log_path else ""
    instance.cleanup()
    assert status == 2, log
    return log


def create(instance: Instance) -> str:
    reply = httpx.post(
        f"{instance.base_url}/checkout_sessions",
        json={**CREATE, **UPDATE_ADDRESS},
        headers={**HEADERS, **post_headers()},
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def test_nobody_starts_beside_a_lone_instance(own_redis: RedisServer) -> None:
    env = cluster_env(own_redis.url, LEASE_TTL)
    with started(Instance("lone", {**env, **LONE})) as lone:
        lone.wait_healthy()
        session_id = create(lone)
        second_lone = refused(Instance("lone2", {**env, **LONE}))
        assert "INSTANCE_URL" in second_lone and "must run alone" in second_lone
        shared = refused(Instance("shared", env))
        assert "INSTANCE_URL" in shared and "lone instance" in shared
        # The lone instance served on, unaffected.
        seen = httpx.get(f"{lone.base_url}/checkout_sessions/{session_id}", headers=HEADERS)
        assert seen.status_code == 200 and seen.json()["status"] == "ready_for_payment"


def test_a_lone_instance_does_not_start_beside_instances_that_forward(
    own_redis: RedisServer,
) -> None:
    env = cluster_env(own_redis.url, LEASE_TTL)
    with started(Instance("a", env)) as shared:
        shared.wait_healthy()
        log = refused(Instance("lone", {**env, **LONE}))
        assert "INSTANCE_URL" in log and "must run alone" in log


def test_a_restart_after_a_crash_waits_for_the_registration_to_lapse(
    own_redis: RedisServer,
) -> None:
    ttl = 4.0  # longer than a start-up, so the dead one's entry is still there
    env = cluster_env(own_redis.url, ttl)
    first = Instance("first", {**env, **LONE})
    with started(first):
        first.wait_healthy()
        session_id = create(first)
        first.kill()
    again = Instance("again", {**env, **LONE})
    begun = time.monotonic()
    with started(again):
        again.wait_healthy()
        waited = time.monotonic() - begun
        seen = httpx.get(f"{again.base_url}/checkout_sessions/{session_id}", headers=HEADERS)
        assert seen.status_code == 200, seen.text
        log = again.log_path.read_text() if again.log_path else ""
    assert "waiting_for_registration_to_lapse" in log
    assert waited < 2 * ttl + 2, waited


def test_after_a_clean_stop_the_next_lone_instance_starts_at_once(
    own_redis: RedisServer,
) -> None:
    env = cluster_env(own_redis.url, LEASE_TTL)
    with started(Instance("first", {**env, **LONE})) as first:
        first.wait_healthy()
    with started(Instance("next", {**env, **LONE})) as following:
        following.wait_healthy()
        log = following.log_path.read_text() if following.log_path else ""
    assert "waiting_for_registration_to_lapse" not in log
