"""Idempotency: each rule of both versions, with a test that fails when it is broken."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
import trio
import trio.lowlevel

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config.settings import Settings
from agentic_commerce.domain.commands import PaymentCredential
from agentic_commerce.domain.model import Payment
from agentic_commerce.http.app import create_app
from agentic_commerce.http.checkout import new_session_id
from agentic_commerce.payments.base import Charged, ChargeRequest, PaymentOutcome, Processor
from agentic_commerce.protocol.traits import BY_VERSION
from agentic_commerce.store.base import PARTITION_SEPARATOR as SEPARATOR
from agentic_commerce.store.base import Store
from agentic_commerce.supervisor import load_catalog
from tests.http.conftest import (
    NEWEST,
    OLDEST,
    VERSIONS,
    AcpClient,
    Reply,
    address_update,
    create_body,
    payment,
)
from tests.stores import StoreFactory

NEW, OLD = NEWEST, OLDEST
JAN30 = "2026-01-30"  # the newest version whose key is optional (409 conflicts)


def key(value: str) -> dict[str, str | None]:
    return {"Idempotency-Key": value}


async def ready_session(client: AcpClient, version: str) -> str:
    reply = await client.create(create_body(version, **address_update(version)))
    return str(reply.body["id"])


class ScriptedProcessor(Processor):
    """Charges after `gate` opens; raises on the calls listed in `fail_on`."""

    name = "scripted"

    def __init__(self, fail_on: tuple[int, ...] = ()) -> None:
        self.gate = trio.Event()
        self.entered = trio.Event()
        self.calls = 0
        self.fail_on = fail_on

    def accepts(self, credential: PaymentCredential) -> bool:
        return True

    async def charge(self, request: ChargeRequest) -> PaymentOutcome:
        self.calls += 1
        self.entered.set()
        if self.calls in self.fail_on:
            raise RuntimeError("processor exploded")
        await self.gate.wait()
        return Charged(Payment("scripted", f"ch_{self.calls}", request.amount, request.currency))


@asynccontextmanager
async def app_with(
    store: Store, processor: Processor | None = None, **settings: Any
) -> AsyncIterator[tuple[AcpClient, ActorSystem]]:
    config = Settings(**settings)
    processors = [processor] if processor else None
    system = ActorSystem(config, store, load_catalog(config), processors=processors)
    async with trio.open_nursery() as inner:
        inner.start_soon(system.run)
        await system.sessions.wait_ready()
        async with create_app(system).test_app() as app:
            yield AcpClient(app.test_client()), system
        inner.cancel_scope.cancel()


# -- key presence --------------------------------------------------------------


async def test_key_is_required_on_every_post_in_2026(acp: AcpClient) -> None:
    no_key = key(None)  # type: ignore[arg-type]
    reply = await acp.create(create_body(NEW), headers={"Idempotency-Key": None})
    assert reply.status == 400
    assert reply.body["code"] == "idempotency_key_required"
    session_id = await ready_session(acp, NEW)
    for call in (
        acp.update(session_id, {"order_notes": "x"}, headers=no_key),
        acp.complete(session_id, payment(NEW), headers=no_key),
        acp.cancel(session_id, headers=no_key),
    ):
        refused = await call
        assert refused.status == 400
        assert refused.body["code"] == "idempotency_key_required"
    assert (await acp.get(session_id)).body["status"] == "ready_for_payment"


@pytest.mark.parametrize(
    "version", [v for v in VERSIONS if not BY_VERSION[v].idempotency_key_required]
)
async def test_key_is_optional_before_2026_04_17(acp: AcpClient, version: str) -> None:
    client = acp.using(version)
    reply = await client.create(create_body(version), headers={"Idempotency-Key": None})
    assert reply.status == 201
    done = await client.complete(
        reply.body["id"], payment(version), headers={"Idempotency-Key": None}
    )
    assert done.status == 200


async def test_overlong_key_is_refused(acp: AcpClient) -> None:
    reply = await acp.create(create_body(NEW), headers=key("k" * 256))
    assert reply.status == 400
    assert reply.body["code"] == "invalid_idempotency_key"


# -- replay and conflict --------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_same_key_same_body_replays_without_side_effects(
    acp: AcpClient, system: ActorSystem, version: str
) -> None:
    client = acp.using(version)
    first = await client.create(create_body(version), headers=key("create-1"))
    again = await client.create(create_body(version), headers=key("create-1"))
    assert first.status == again.status == 201
    assert again.body == first.body
    assert (await system.store.stock("item_123")).reserved == 1
    replayed = again.headers.get("Idempotent-Replayed")
    assert replayed == "true"
    assert again.headers["Idempotency-Key"] == "create-1"

    session_id = await ready_session(client, version)
    paid = await client.complete(session_id, payment(version), headers=key("pay-1"))
    repaid = await client.complete(session_id, payment(version), headers=key("pay-1"))
    assert repaid.body == paid.body
    assert (await system.store.stock("item_123")).on_hand == 249


@pytest.mark.parametrize(
    ("version", "status"), [(v, BY_VERSION[v].conflict_status) for v in VERSIONS]
)
async def test_same_key_different_body_conflicts(
    acp: AcpClient, system: ActorSystem, version: str, status: int
) -> None:
    client = acp.using(version)
    await client.create(create_body(version), headers=key("k1"))
    conflict = await client.create(create_body(version, quantity=2), headers=key("k1"))
    assert conflict.status == status
    assert conflict.body["type"] == "invalid_request"
    assert conflict.body["code"] == "idempotency_conflict"
    assert (await system.store.stock("item_123")).reserved == 1


ONE = b'{"items":[{"id":"item_123","quantity":1}]}'


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        (ONE, b'{"items":[{"quantity":1,"id":"item_123"}]}', True),
        (ONE, b'{"items":[{"id":"item_123","quantity":1.0}]}', True),
        (ONE, b'{"items":[{"id":"item_123","quantity":1}],"buyer":null}', False),
        (
            b'{"items":[{"id":"item_123","quantity":1},{"id":"test","quantity":1}]}',
            b'{"items":[{"id":"test","quantity":1},{"id":"item_123","quantity":1}]}',
            False,
        ),
    ],
    ids=["key-order", "one-point-zero", "null-vs-absent", "array-order"],
)
async def test_bodies_compare_semantically(
    acp: AcpClient, first: bytes, second: bytes, same: bool
) -> None:
    client = acp.using(OLD)
    await client.create(None, raw=first, headers=key("sem"))
    reply = await client.create(None, raw=second, headers=key("sem"))
    assert (reply.status != 409) is same
    if same:
        assert reply.headers.get("Idempotent-Replayed") == "true"


async def test_keys_are_scoped_to_path_and_merchant(
    nursery: trio.Nursery, store_factory: StoreFactory
) -> None:
    store = store_factory()
    keys = {"key_a": "merchant_a", "key_b": "merchant_b"}
    async with app_with(store, api_keys=keys) as (client, _system):
        a = AcpClient(client._client, NEW, "key_a")
        b = AcpClient(client._client, NEW, "key_b")
        one = await a.create(create_body(NEW), headers=key("shared"))
        other = await b.create(create_body(NEW), headers=key("shared"))
        assert one.status == other.status == 201
        assert one.body["id"] != other.body["id"]
        assert other.headers.get("Idempotent-Replayed") is None
        # Same key on another endpoint of the same merchant is independent too.
        update = await a.update(one.body["id"], {"order_notes": "hi"}, headers=key("shared"))
        assert update.status == 200
        assert update.headers.get("Idempotent-Replayed") is None
        # And a merchant cannot see another merchant's session.
        assert (await b.get(one.body["id"])).status == 404


@pytest.mark.parametrize("version", VERSIONS)
async def test_4xx_answers_are_replayed(acp: AcpClient, version: str) -> None:
    client = acp.using(version)
    bad = create_body(version, product="nope")
    first = await client.create(bad, headers=key("bad"))
    again = await client.create(bad, headers=key("bad"))
    assert first.status == again.status == 400
    assert again.body == first.body
    assert again.headers.get("Idempotent-Replayed") == "true"


@pytest.mark.kills_actors
@pytest.mark.parametrize("version", VERSIONS)
async def test_5xx_is_never_stored(
    nursery: trio.Nursery, store_factory: StoreFactory, version: str
) -> None:
    processor = ScriptedProcessor(fail_on=(1,))
    processor.gate.set()
    async with app_with(store_factory(), processor) as (client, _system):
        client = client.using(version)
        session_id = await ready_session(client, version)
        failed = await client.complete(session_id, payment(version), headers=key("pay"))
        assert failed.status == 503  # the payment actor crashed: retryable, not stored
        assert failed.body["type"] == "service_unavailable"
        assert failed.headers["Retry-After"] == "1"
        retried = await client.complete(session_id, payment(version), headers=key("pay"))
        assert retried.status == 200
        assert retried.headers.get("Idempotent-Replayed") is None
        assert retried.body["status"] == "completed"
        assert processor.calls == 2


@pytest.mark.kills_actors
@pytest.mark.parametrize("version", VERSIONS)
async def test_a_session_actor_killed_during_a_complete_answers_503_then_the_retry_completes(
    nursery: trio.Nursery, store_factory: StoreFactory, version: str
) -> None:
    processor = ScriptedProcessor()
    async with app_with(store_factory(), processor) as (client, system):
        client = client.using(version)
        session_id = await ready_session(client, version)
        replies: list[Reply] = []

        async def complete() -> None:
            replies.append(await client.complete(session_id, payment(version), headers=key("k")))

        async with trio.open_nursery() as requests:
            requests.start_soon(complete)
            await processor.entered.wait()
            assert system.kill(session_id)
        (killed,) = replies
        assert killed.status == 503
        assert killed.body["type"] == "service_unavailable"
        assert killed.headers["Retry-After"] == "1"
        processor.gate.set()
        retried = await client.complete(session_id, payment(version), headers=key("k"))
        assert retried.status == 200
        assert retried.body["status"] == "completed"
        again = await client.complete(session_id, payment(version), headers=key("k"))
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.body == retried.body


@pytest.mark.parametrize(
    ("version", "error_type"),
    [(NEW, "invalid_request"), (JAN30, "request_not_idempotent"), (OLD, "request_not_idempotent")],
)
async def test_key_in_flight_gets_409(
    nursery: trio.Nursery, store_factory: StoreFactory, version: str, error_type: str
) -> None:
    processor = ScriptedProcessor()
    async with app_with(store_factory(), processor) as (client, _system):
        client = client.using(version)
        session_id = await ready_session(client, version)
        first: list[Reply] = []

        async def hold(call: Awaitable[Reply]) -> None:
            first.append(await call)

        nursery.start_soon(hold, client.complete(session_id, payment(version), headers=key("p")))
        await processor.entered.wait()
        busy = await client.complete(session_id, payment(version), headers=key("p"))
        assert busy.status == 409
        assert busy.body["code"] == "idempotency_in_flight"
        assert busy.body["type"] == error_type
        assert busy.headers["Retry-After"] == "1"
        processor.gate.set()
        with trio.fail_after(5):
            while not first:
                await trio.lowlevel.checkpoint()  # let the held request finish
        replay = await client.complete(session_id, payment(version), headers=key("p"))
        assert replay.body == first[0].body
        assert processor.calls == 1


@pytest.mark.parametrize("version", VERSIONS)
async def test_fifty_concurrent_identical_creates_make_one_session(
    acp: AcpClient, system: ActorSystem, version: str
) -> None:
    client = acp.using(version)
    replies: list[Reply] = []

    async def create() -> None:
        replies.append(await client.create(create_body(version), headers=key("same")))

    async with trio.open_nursery() as nursery:
        for _ in range(50):
            nursery.start_soon(create)
    created = {r.body["id"] for r in replies if r.status == 201}
    assert len(created) == 1
    assert all(r.status in (201, 409) for r in replies)
    assert (await system.store.stock("item_123")).reserved == 1


async def test_replay_after_restart_returns_the_stored_answer(
    nursery: trio.Nursery, store_factory: StoreFactory
) -> None:
    store = store_factory()
    async with app_with(store) as (client, _system):
        first = await client.create(create_body(NEW), headers=key("restart"))
    async with app_with(store) as (client, _system):
        again = await client.create(create_body(NEW), headers=key("restart"))
    assert again.status == 201
    assert again.body == first.body
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert (await store.stock("item_123")).reserved == 1


async def test_records_expire_after_the_ttl(
    nursery: trio.Nursery, store_factory: StoreFactory
) -> None:
    store = store_factory()
    async with app_with(store, idempotency_ttl_seconds=1) as (client, _system):
        first = await client.create(create_body(NEW), headers=key("ttl"))
        partition = new_session_id("merchant_demo", "ttl")
        scope = SEPARATOR.join((partition, "merchant_demo", "POST", "/checkout_sessions", "ttl"))
        record = await store.load_idempotency(scope)
        assert record is not None
        await store.put_idempotency(replace(record, expires_at=time.time() - 1))  # lapsed
        again = await client.create(create_body(NEW), headers=key("ttl"))
        assert again.status == 201
        assert again.body["id"] != first.body["id"]
