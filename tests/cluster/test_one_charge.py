"""One charge per session across instances, against the fake Stripe (`spt_`
tokens): fifty concurrent completes spread over three instances, and an owner
killed while its charge is at Stripe."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import trio

from tests.cluster.cluster import (
    ADMIN_HEADERS,
    CREATE,
    HEADERS,
    UPDATE_ADDRESS,
    Cluster,
    Reply,
    check,
    cluster_env,
    make_cluster,
    pay,
    post_headers,
)
from tests.fakes.stripe_server import FakeStripe, running_fake_stripe
from tests.payments.conftest import API_VERSION, SECRET
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow
LEASE_TTL = 2.0
COMPLETES = 50
TOKEN = "spt_cluster_token_0001"
RETRYABLE = (409, 503)
QUEUE_TIMEOUT = 20.0


@dataclass
class Setup:
    fake: FakeStripe
    cluster: Cluster
    clients: list[httpx.AsyncClient]  # one per instance
    admin: list[httpx.AsyncClient]


@asynccontextmanager
async def three_instances(redis: RedisServer) -> AsyncIterator[Setup]:
    """Three instances charging `spt_` tokens at a fake Stripe served by this trio run."""
    async with running_fake_stripe() as fake:
        env = cluster_env(
            redis.url,
            LEASE_TTL,
            STRIPE_SECRET_KEY=SECRET,
            STRIPE_API_BASE=fake.url,
            STRIPE_API_VERSION=API_VERSION,
        )
        cluster = make_cluster(3, env)
        try:
            cluster.start()
            await trio.to_thread.run_sync(cluster.wait_healthy)  # the fake keeps serving
            clients = [
                httpx.AsyncClient(base_url=i.base_url, headers=HEADERS, timeout=60)
                for i in cluster.instances
            ]
            admin = [
                httpx.AsyncClient(base_url=i.base_url, headers=ADMIN_HEADERS, timeout=10)
                for i in cluster.instances
            ]
            try:
                yield Setup(fake, cluster, clients, admin)
            finally:
                for client in clients + admin:
                    await client.aclose()
        except BaseException:
            print(cluster.logs())
            raise
        finally:
            await trio.to_thread.run_sync(cluster.stop)  # before the fake goes away
            cluster.cleanup()


async def post(client: httpx.AsyncClient, path: str, body: Any) -> Reply:
    started = trio.current_time()
    response = await client.post(path, json=body, headers=post_headers())
    reply = Reply(response.status_code, response.json(), trio.current_time() - started)
    check(reply)
    return reply


async def ready_session(client: httpx.AsyncClient) -> tuple[str, int]:
    """A session ready for payment, created through `client`; its id and total."""
    created = await post(client, "/checkout_sessions", {**CREATE, **UPDATE_ADDRESS})
    assert created.status == 201, created.body
    assert created.body["status"] == "ready_for_payment"
    total = next(t["amount"] for t in created.body["totals"] if t["type"] == "total")
    return created.body["id"], int(total)


async def queued_behind_the_charge(admin: httpx.AsyncClient, session_id: str, count: int) -> None:
    """Returns once `count` messages wait in the session actor's mailbox."""
    with trio.fail_after(QUEUE_TIMEOUT):
        while True:
            response = await admin.get(f"/admin/actors/{session_id}")
            if response.status_code == 200 and response.json()["mailbox_depth"] >= count:
                return
            await trio.sleep(0.05)


def intents_of(fake: FakeStripe, session_id: str) -> list[dict[str, Any]]:
    return [
        pi for pi in fake.intents.values() if pi["metadata"]["checkout_session_id"] == session_id
    ]


async def assert_one_order_everywhere(setup: Setup, session_id: str, order_id: str) -> None:
    for client, admin in zip(setup.clients, setup.admin, strict=True):
        if not _alive(client, setup.cluster):
            continue
        seen = await client.get(f"/checkout_sessions/{session_id}")
        assert seen.status_code == 200, seen.text
        assert seen.json()["status"] == "completed"
        assert seen.json()["order"]["id"] == order_id
        order = await admin.get(f"/admin/orders/{order_id}")
        assert order.status_code == 200, order.text
        assert order.json()["checkout_session_id"] == session_id


def _alive(client: httpx.AsyncClient, cluster: Cluster) -> bool:
    instance = next(i for i in cluster.instances if i.base_url == str(client.base_url).rstrip("/"))
    return instance.process is not None and instance.process.poll() is None


async def test_fifty_concurrent_completes_make_one_order_and_one_charge(
    own_redis: RedisServer,
) -> None:
    async with three_instances(own_redis) as setup:
        fake = setup.fake
        session_id, total = await ready_session(setup.clients[0])  # instance 0 runs it

        # The first charge is held at the fake until every other complete waits
        # behind it in the owner's mailbox.
        fake.gate = trio.Event()
        replies: list[Reply] = []
        path = f"/checkout_sessions/{session_id}/complete"

        async def complete(client: httpx.AsyncClient) -> None:
            replies.append(await post(client, path, pay(TOKEN)))

        async with trio.open_nursery() as nursery:
            for _, client in zip(range(COMPLETES), itertools.cycle(setup.clients)):
                nursery.start_soon(complete, client)
            await fake.wait_in_flight(1)
            await queued_behind_the_charge(setup.admin[0], session_id, COMPLETES - 1)
            fake.gate.set()

        statuses = sorted({reply.status for reply in replies})
        assert set(statuses) <= {200, *RETRYABLE}, statuses
        done = [reply.body for reply in replies if reply.status == 200]
        assert done, statuses
        assert {body["status"] for body in done} == {"completed"}
        (order_id,) = {body["order"]["id"] for body in done}

        (intent,) = intents_of(fake, session_id)
        assert intent["status"] == "succeeded"
        assert intent["amount"] == total
        assert intent["metadata"]["order_id"] == order_id
        assert len({create.idempotency_key for create in fake.creates()}) == 1
        await assert_one_order_everywhere(setup, session_id, order_id)


async def test_owner_killed_while_its_charge_is_at_stripe_charges_once(
    own_redis: RedisServer,
) -> None:
    """B forwards a complete to A; A dies with the charge open at Stripe. B takes
    the session over and charges again with the same Stripe idempotency key:
    one PaymentIntent, one order, no 5xx."""
    async with three_instances(own_redis) as setup:
        fake = setup.fake
        session_id, total = await ready_session(setup.clients[0])  # instance 0 runs it
        fake.gate = trio.Event()
        replies: list[Reply] = []

        async def complete() -> None:
            path = f"/checkout_sessions/{session_id}/complete"
            replies.append(await post(setup.clients[1], path, pay(TOKEN)))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(complete)
            await fake.wait_in_flight(1)  # A's charge, held at the fake
            await trio.to_thread.run_sync(setup.cluster.instances[0].kill)
            await fake.wait_in_flight(2)  # B's, once A's lease lapsed
            fake.gate.set()

        (reply,) = replies
        assert reply.status == 200, reply.body
        assert reply.body["status"] == "completed"
        assert reply.seconds < 4 * LEASE_TTL, reply.seconds
        order_id = reply.body["order"]["id"]
        (intent,) = intents_of(fake, session_id)
        assert intent["status"] == "succeeded"
        assert intent["amount"] == total
        (key,) = {create.idempotency_key for create in fake.creates()}  # A's and B's
        assert len(fake.creates()) == 2 and (key or "").startswith(f"acp-complete-{session_id}-")
        await assert_one_order_everywhere(setup, session_id, order_id)


async def test_a_retry_after_the_instance_died_mid_request_proceeds_within_a_lease_ttl(
    own_redis: RedisServer,
) -> None:
    """The agent's complete reaches the owner, which dies with the charge open at
    Stripe (its Idempotency-Key claim stays behind). The agent retries the same key
    on another instance, honouring Retry-After: it completes within about one lease
    TTL of the death (the claim lapses with its holder), with one PaymentIntent."""
    async with three_instances(own_redis) as setup:
        fake = setup.fake
        session_id, _total = await ready_session(setup.clients[0])  # instance 0 runs it
        path = f"/checkout_sessions/{session_id}/complete"
        headers = post_headers()  # one Idempotency-Key for every attempt
        fake.gate = trio.Event()

        async def first_attempt() -> None:
            with contextlib.suppress(httpx.TransportError):
                await setup.clients[0].post(path, json=pay(TOKEN), headers=headers)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(first_attempt)
            await fake.wait_in_flight(1)
            await trio.to_thread.run_sync(setup.cluster.instances[0].kill)
        died = trio.current_time()
        fake.gate.set()

        statuses = []
        with trio.fail_after(30):
            while True:
                response = await setup.clients[1].post(path, json=pay(TOKEN), headers=headers)
                statuses.append(response.status_code)
                if response.status_code not in RETRYABLE:
                    break
                assert response.headers["Retry-After"] == "1"
                await trio.sleep(1)
        waited = trio.current_time() - died
        assert statuses[-1] == 200, (statuses, response.text)
        check(Reply(200, response.json(), waited))
        assert response.json()["status"] == "completed"
        assert waited < 2 * LEASE_TTL + 2, (waited, statuses)  # not ASK_TIMEOUT-scale
        (intent,) = intents_of(fake, session_id)
        assert intent["status"] == "succeeded"
        await assert_one_order_everywhere(setup, session_id, response.json()["order"]["id"])
