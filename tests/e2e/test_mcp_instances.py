"""MCP across two real instances on one real redis-server: a tool call for a session
whose actor runs on the other instance is forwarded to it, as a REST call is, and
the idempotency records are shared."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.cluster import Cluster, cluster_env, running_cluster, session_actor_ids
from tests.e2e.mcp_agent import connected, new_key
from tests.real_requests import EXPRESS, pay, with_address
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow
LEASE_TTL = 2.0


@pytest.fixture
def cluster(own_redis: RedisServer) -> Iterator[Cluster]:
    with running_cluster(2, cluster_env(own_redis.url, LEASE_TTL)) as cluster:
        yield cluster


async def test_a_call_for_a_session_run_elsewhere_is_forwarded(cluster: Cluster) -> None:
    a, b = cluster.instances
    key = new_key()
    async with connected(a.base_url) as on_a, connected(b.base_url) as on_b:
        created = await on_a.create(with_address(), key)
        session_id = created.session["id"]
        assert session_id in session_actor_ids(a.base_url)

        replayed = await on_b.create(with_address(), key)  # one key space, in Redis
        assert replayed.replayed and replayed.session == created.session

        updated = (await on_b.update(session_id, EXPRESS)).session
        assert updated["selected_fulfillment_options"][0]["option_id"] == "shipping_express"
        declined = await on_b.refused(
            "complete_checkout_session", on_b.complete_args(session_id, pay("tok_test_decline"))
        )
        assert declined["code"] == "payment_declined"
        completed = (await on_b.complete(session_id)).session
        assert completed["status"] == "completed"
        seen = (await on_b.get(session_id)).session
        assert seen["order"] == completed["order"]

    assert session_id in session_actor_ids(a.base_url)  # it ran on A throughout
    assert session_id not in session_actor_ids(b.base_url)
