"""Completing checkout sessions with `spt_` tokens through the whole app: the ACP
client (responses schema-checked), the session and payment actors, the Stripe
processor and the real stripe client, against the fake Stripe server."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from agentic_commerce.actors.system import ActorSystem, build_processors
from agentic_commerce.config.settings import Settings
from agentic_commerce.http.app import create_app
from agentic_commerce.payments.stripe_unconfigured import NOT_CONFIGURED, StripeNotConfigured
from agentic_commerce.protocol.traits import BY_VERSION
from agentic_commerce.store.memory import MemoryStore
from agentic_commerce.supervisor import load_catalog
from tests.fakes.stripe_server import FakeStripe
from tests.http.conftest import (
    AUTHENTICATED,
    AcpClient,
    Reply,
    address_update,
    create_body,
    payment,
)
from tests.payments.conftest import API_VERSION, SECRET

NEW, OLD = "2026-04-17", "2025-09-29"
TOKEN = "spt_app_token_0001"


@asynccontextmanager
async def app_with(settings: Settings) -> AsyncIterator[AcpClient]:
    """The app on its own actor system; the system's processors are closed after."""
    system = ActorSystem(settings, MemoryStore(), load_catalog(settings))
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(system.run)
            await system.sessions.wait_ready()
            async with create_app(system).test_app() as app:
                yield AcpClient(app.test_client())
            nursery.cancel_scope.cancel()
    finally:
        await system.close()


def stripe_settings(fake: FakeStripe, **changes: Any) -> Settings:
    return Settings(
        stripe_secret_key=SECRET,
        stripe_api_base=fake.url,
        stripe_api_version=API_VERSION,
        **changes,
    )


@pytest.fixture
async def acp(fake_stripe: FakeStripe) -> AsyncIterator[AcpClient]:
    async with app_with(stripe_settings(fake_stripe)) as client:
        yield client


async def ready_session(
    acp: AcpClient, version: str, interventions: list[str] | None = None
) -> str:
    extra: dict[str, Any] = address_update(version)
    if interventions is not None:
        extra["capabilities"] = {"interventions": {"supported": interventions}}
    reply = await acp.using(version).create(create_body(version, **extra))
    assert reply.status == 201, reply.body
    assert reply.body["status"] == "ready_for_payment"
    return str(reply.body["id"])


def total_of(reply: Reply) -> int:
    return int(next(t["amount"] for t in reply.body["totals"] if t["type"] == "total"))


def intents_of(fake: FakeStripe, session_id: str) -> list[dict[str, Any]]:
    return [
        pi for pi in fake.intents.values() if pi["metadata"]["checkout_session_id"] == session_id
    ]


@pytest.mark.parametrize("version", [NEW, OLD])
async def test_complete_with_an_spt_charges_once_and_places_the_order(
    acp: AcpClient, fake_stripe: FakeStripe, version: str
) -> None:
    client = acp.using(version)
    session_id = await ready_session(acp, version)
    total = total_of(await client.get(session_id))

    done = await client.complete(session_id, payment(version, TOKEN))

    assert done.status == 200, done.body
    assert done.body["status"] == "completed"
    order = done.body["order"]
    assert order["checkout_session_id"] == session_id
    seen = (await client.get(session_id)).body
    assert seen["status"] == "completed"
    if BY_VERSION[version].order_in_session:  # 2025-09-29: only the complete answer has it
        assert seen["order"]["id"] == order["id"]
    (create,) = fake_stripe.creates()
    assert create.params["amount"] == str(total)
    assert create.params["currency"] == "usd"
    assert create.params["confirm"] == "true"
    assert create.params["payment_method_data"] == {"shared_payment_granted_token": TOKEN}
    assert create.params["metadata"]["checkout_session_id"] == session_id
    assert create.params["metadata"]["order_id"] == order["id"]
    assert (create.idempotency_key or "").startswith(f"acp-complete-{session_id}-")
    assert len(fake_stripe.succeeded()) == 1


async def test_decline_keeps_the_session_payable_and_a_new_token_pays(
    acp: AcpClient, fake_stripe: FakeStripe
) -> None:
    session_id = await ready_session(acp, NEW)
    fake_stripe.outcomes[TOKEN] = "decline:insufficient_funds"

    declined = await acp.complete(session_id, payment(NEW, TOKEN))

    assert declined.status == 200
    assert declined.body["status"] == "ready_for_payment"
    assert "order" not in declined.body
    (message,) = [m for m in declined.body["messages"] if m.get("code") == "payment_declined"]
    assert message["content"] == "The card has insufficient funds."
    paid = await acp.complete(session_id, payment(NEW, "spt_app_token_0002"))
    assert paid.body["status"] == "completed"
    assert len(intents_of(fake_stripe, session_id)) == 2
    assert len(fake_stripe.succeeded()) == 1


async def test_three_d_secure_with_an_spt(acp: AcpClient, fake_stripe: FakeStripe) -> None:
    session_id = await ready_session(acp, NEW, ["3ds"])
    fake_stripe.outcomes[TOKEN] = "requires_action"

    challenged = await acp.complete(session_id, payment(NEW, TOKEN))
    assert challenged.body["status"] == "authentication_required"

    done = await acp.complete(
        session_id, dict(payment(NEW, TOKEN), authentication_result=AUTHENTICATED)
    )
    assert done.body["status"] == "completed", done.body
    (intent,) = intents_of(fake_stripe, session_id)
    (confirm,) = fake_stripe.calls("POST", f"/v1/payment_intents/{intent['id']}/confirm")
    three_ds = confirm.params["payment_method_options"]["card"]["three_d_secure"]
    assert three_ds["cryptogram"] == "AbCdEfGhIjKlMnOpQrStUvWxY0="
    assert three_ds["transaction_id"] == "dsTransId_abc123"
    assert intent["status"] == "succeeded"


async def test_stripe_outage_is_retryable_and_the_retry_reuses_the_payment_intent(
    acp: AcpClient, fake_stripe: FakeStripe
) -> None:
    session_id = await ready_session(acp, NEW)
    fake_stripe.faults = ["500", "500", "500"]  # outlasts the stripe client's two retries

    down = await acp.complete(session_id, payment(NEW, TOKEN))
    assert down.status == 502
    assert down.body["type"] == "processing_error"
    assert down.headers["Retry-After"] == "1"
    assert TOKEN not in str(down.body)

    done = await acp.complete(session_id, payment(NEW, TOKEN))
    assert done.body["status"] == "completed"
    creates = fake_stripe.creates()
    assert len(creates) == 4
    assert len({c.idempotency_key for c in creates}) == 1
    assert len(fake_stripe.intents) == 1


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_concurrent_and_repeated_completes_charge_once(
    acp: AcpClient, fake_stripe: FakeStripe, seed: int
) -> None:
    """30 concurrent completes of one session, then 5 more in a row: keys shared by
    some (replays or 409 while in flight), distinct for others, a stray second
    token among them. Exactly one PaymentIntent succeeds and one order exists."""
    rng = random.Random(seed)
    session_id = await ready_session(acp, NEW)
    shared_keys = [f"agent-key-{seed}-{i}" for i in range(4)]
    plan: list[tuple[str, str]] = []
    for index in range(35):
        if rng.random() < 0.1:  # a second token, under its own key (else: 422 conflict)
            plan.append(("spt_stray_token_0001", f"stray-{seed}-{index}"))
        elif rng.random() < 0.5:
            plan.append((TOKEN, rng.choice(shared_keys)))
        else:
            plan.append((TOKEN, f"unique-{seed}-{index}"))
    replies: list[Reply] = []

    async def complete(token: str, key: str) -> None:
        headers: dict[str, str | None] = {"Idempotency-Key": key}
        replies.append(await acp.complete(session_id, payment(NEW, token), headers=headers))

    async with trio.open_nursery() as nursery:
        for token, key in plan[:30]:
            nursery.start_soon(complete, token, key)
    for token, key in plan[30:]:
        await complete(token, key)

    assert {r.status for r in replies} <= {200, 409}, [r.body for r in replies]
    completed = [r for r in replies if r.status == 200]
    assert len(completed) >= 5
    assert all(r.body["status"] == "completed" for r in completed)
    assert len({r.body["order"]["id"] for r in completed}) == 1
    assert len(fake_stripe.creates()) == 1
    assert len(fake_stripe.succeeded()) == 1


async def test_without_a_secret_key_an_spt_is_declined_as_not_configured() -> None:
    settings = Settings()
    assert settings.stripe_secret_key is None
    async with app_with(settings) as acp:
        session_id = await ready_session(acp, NEW)
        reply = await acp.complete(session_id, payment(NEW, TOKEN))
    assert reply.status == 200
    assert reply.body["status"] == "ready_for_payment"
    (message,) = [m for m in reply.body["messages"] if m.get("code") == "payment_declined"]
    assert message["content"] == NOT_CONFIGURED
    assert "order" not in reply.body


def test_processors_follow_the_settings() -> None:
    names = [p.name for p in build_processors(Settings())]
    assert names == ["simulated", "stripe"]
    assert isinstance(build_processors(Settings())[-1], StripeNotConfigured)
    names = [p.name for p in build_processors(Settings(simulated_payments=False))]
    assert names == ["stripe"]
