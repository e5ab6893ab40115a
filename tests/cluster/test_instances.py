"""Separate server processes sharing one redis-server: any instance serves any
session (forwarding to the instance that runs its actor), and an owner killed
with SIGKILL costs a request at most about one lease TTL, never a 5xx."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.cluster.cluster import (
    CREATE,
    UPDATE_ADDRESS,
    Api,
    Cluster,
    Reply,
    cluster_env,
    running_cluster,
    session_actor_ids,
)
from tests.real_requests import EXPRESS
from tests.redis_server import RedisServer
from tests.waiting import poll

pytestmark = pytest.mark.slow
LEASE_TTL = 2.0


@pytest.fixture
def cluster(own_redis: RedisServer) -> Iterator[Cluster]:
    with running_cluster(3, cluster_env(own_redis.url, LEASE_TTL)) as cluster:
        yield cluster


@pytest.fixture
def apis(cluster: Cluster) -> Iterator[list[Api]]:
    apis = [Api(instance) for instance in cluster.instances]
    yield apis
    for api in apis:
        api.close()


def owners(cluster: Cluster, session_id: str) -> list[int]:
    """The indexes of the live instances whose admin API lists the session's actor."""
    return [
        index
        for index, instance in enumerate(cluster.instances)
        if instance.process is not None
        and instance.process.poll() is None
        and session_id in session_actor_ids(instance.base_url)
    ]


def ok(reply: Reply, status: int = 200) -> Reply:
    assert reply.status == status, reply.body
    return reply


def test_create_on_a_update_on_b_complete_on_c(cluster: Cluster, apis: list[Api]) -> None:
    a, b, c = apis
    created = ok(a.create(), 201)
    session_id = created.body["id"]
    assert created.body["status"] == "not_ready_for_payment"
    assert owners(cluster, session_id) == [0]  # the actor runs where it was created

    updated = ok(b.update(session_id, UPDATE_ADDRESS))
    assert updated.body["status"] == "ready_for_payment"
    assert updated.body["fulfillment_details"]["address"]["postal_code"] == "94105"

    completed = ok(c.complete(session_id))
    assert completed.body["status"] == "completed"
    order_id = completed.body["order"]["id"]

    for api in apis:  # every instance reads the same committed session
        seen = ok(api.get(session_id))
        assert seen.body["status"] == "completed"
        assert seen.body["order"]["id"] == order_id
        assert seen.body["line_items"] == completed.body["line_items"]
    # One live actor cluster-wide: B and C forwarded to A instead of loading their own.
    assert owners(cluster, session_id) == [0]


def test_owner_killed_mid_flow_is_taken_over_within_the_lease(
    cluster: Cluster, apis: list[Api]
) -> None:
    a = apis[0]
    created = ok(a.create({**CREATE, **UPDATE_ADDRESS, **_two_items()}), 201)
    session_id = created.body["id"]
    assert created.body["status"] == "ready_for_payment"
    ok(apis[1].update(session_id, EXPRESS))  # forwarded to the owner
    committed = ok(apis[2].get(session_id)).body
    (owner,) = owners(cluster, session_id)

    cluster.instances[owner].kill()
    survivors = [api for index, api in enumerate(apis) if index != owner]

    # The next request, to another instance, is answered once the dead owner's
    # lease lapses: slower, never a 5xx.
    completed = survivors[0].complete(session_id)
    assert completed.status == 200, completed.body
    assert completed.seconds < 4 * LEASE_TTL, completed.seconds
    assert completed.body["status"] == "completed"
    assert completed.body["line_items"] == committed["line_items"]
    assert completed.body["fulfillment_details"] == committed["fulfillment_details"]
    assert _selected(completed.body) == "shipping_express"
    assert owners(cluster, session_id) == [apis.index(survivors[0])]

    seen = ok(survivors[1].get(session_id)).body  # forwarded to the new owner
    assert seen["order"]["id"] == completed.body["order"]["id"]
    assert seen["line_items"] == committed["line_items"]


def test_owner_killed_while_both_survivors_are_asked_at_once(
    cluster: Cluster, apis: list[Api]
) -> None:
    """Both survivors notice the silent owner together: one takes the session
    over, the other must find the new owner rather than wait for a lease that
    the new owner keeps renewing."""
    created = ok(apis[0].create({**CREATE, **UPDATE_ADDRESS, **_two_items()}), 201)
    session_id = created.body["id"]
    (owner,) = owners(cluster, session_id)
    cluster.instances[owner].kill()
    survivors = [api for index, api in enumerate(apis) if index != owner]

    with ThreadPoolExecutor(2) as pool:
        asked = [
            pool.submit(survivors[0].update, session_id, EXPRESS),
            pool.submit(survivors[1].update, session_id, {"order_notes": "leave at the door"}),
        ]
        replies = [future.result() for future in asked]
    for reply in replies:
        assert reply.status == 200, reply.body
        assert reply.seconds < 4 * LEASE_TTL, reply.seconds
    final = ok(survivors[0].get(session_id)).body
    assert final["line_items"] == created.body["line_items"]
    assert _selected(final) == "shipping_express"
    assert poll(lambda: len(owners(cluster, session_id)) == 1, 5)


def _two_items() -> dict[str, object]:
    return {"line_items": [{"id": "item_123", "quantity": 2}]}


def _selected(body: dict[str, object]) -> str:
    options = body.get("selected_fulfillment_options")
    assert isinstance(options, list) and options, body
    return str(options[0]["option_id"])


def test_a_read_is_answered_from_the_store_without_the_owner(
    cluster: Cluster, apis: list[Api]
) -> None:
    """A GET where the session's actor is not live is the committed state, read in
    one store round trip: it is not forwarded, so a frozen owner does not slow it,
    and it activates no actor."""
    created = ok(apis[0].create({**CREATE, **UPDATE_ADDRESS}), 201)
    session_id = created.body["id"]
    ok(apis[0].update(session_id, EXPRESS))
    (owner,) = owners(cluster, session_id)
    process = cluster.instances[owner].process
    assert process is not None
    reader = apis[(owner + 1) % len(apis)]
    process.send_signal(signal.SIGSTOP)  # alive, registered, holding the lease, silent
    try:
        seen = ok(reader.get(session_id))
    finally:
        process.send_signal(signal.SIGCONT)
    assert seen.seconds < LEASE_TTL / 2, seen.seconds
    assert _selected(seen.body) == "shipping_express"
    assert owners(cluster, session_id) == [owner]  # nothing activated on the reader
