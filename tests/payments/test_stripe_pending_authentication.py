"""A PaymentIntent waiting for 3-D Secure, through the whole app and the real
stripe client against the fake Stripe server: only a successful authentication
result confirms it; a change of the cart or amount cancels it at Stripe; any
other change keeps it; a cancel Stripe cannot make loses nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests import acp_schema
from tests.fakes.stripe_server import FakeStripe
from tests.http.conftest import AcpClient, Reply, address_update, create_body, payment
from tests.payments.test_stripe_checkout import AUTHENTICATED, app_with, stripe_settings

NEW = "2026-04-17"
TOKEN = "spt_pending_3ds_0001"
OTHER_TOKEN = "spt_pending_3ds_0002"
DENIED_EXAMPLE = "complete_session_with_denied_authentication_request"


@pytest.fixture
async def acp(fake_stripe: FakeStripe) -> AsyncIterator[AcpClient]:
    async with app_with(stripe_settings(fake_stripe)) as client:
        yield client


def spec_example(name: str) -> dict[str, Any]:
    path = acp_schema.spec_dir() / NEW / "examples" / "examples.agentic_checkout.json"
    return copy.deepcopy(json.loads(path.read_text())[name])


def total_of(reply: Reply) -> int:
    return int(next(t["amount"] for t in reply.body["totals"] if t["type"] == "total"))


def completing(token: str, result: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body = dict(payment(NEW, token), **extra)
    if result is not None:
        body["authentication_result"] = result
    return body


def confirms(fake: FakeStripe) -> list[str]:
    """Ids of the PaymentIntents a confirm was sent for."""
    return [r.path.split("/")[3] for r in fake.requests if r.path.endswith("/confirm")]


async def challenged(acp: AcpClient, fake: FakeStripe, token: str = TOKEN) -> tuple[str, str]:
    """A session whose PaymentIntent waits for 3-D Secure: (session id, intent id)."""
    fake.outcomes[token] = "requires_action"
    body = create_body(
        NEW, **address_update(NEW), capabilities={"interventions": {"supported": ["3ds"]}}
    )
    created = await acp.create(body)
    assert created.status == 201, created.body
    session_id = str(created.body["id"])
    reply = await acp.complete(session_id, completing(token))
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "authentication_required"
    (intent,) = [
        pi for pi in fake.intents.values() if pi["metadata"]["checkout_session_id"] == session_id
    ]
    assert intent["status"] == "requires_action"
    return session_id, str(intent["id"])


def assert_not_completed(reply: Reply) -> None:
    assert reply.status == 200, reply.body
    assert reply.body["status"] != "completed"
    assert "order" not in reply.body


async def test_replay_of_the_spec_denied_authentication_example(
    acp: AcpClient, fake_stripe: FakeStripe
) -> None:
    body = spec_example(DENIED_EXAMPLE)
    token = body["payment_data"]["instrument"]["credential"]["token"]
    session_id, intent_id = await challenged(acp, fake_stripe, token)

    denied = await acp.complete(session_id, body)

    assert_not_completed(denied)
    assert denied.body["status"] == "ready_for_payment"
    assert "payment_declined" in {m.get("code") for m in denied.body["messages"]}
    assert confirms(fake_stripe) == []
    assert fake_stripe.intents[intent_id]["status"] == "requires_action"
    assert fake_stripe.succeeded() == []


@pytest.mark.parametrize("outcome", ["denied", "rejected"])
@pytest.mark.parametrize("how", ["update_buyer", "complete_with_buyer", "complete_with_notes"])
async def test_a_failed_result_never_confirms_even_with_a_cryptogram(
    acp: AcpClient, fake_stripe: FakeStripe, outcome: str, how: str
) -> None:
    session_id, intent_id = await challenged(acp, fake_stripe)
    extra: dict[str, Any] = {}
    if how == "update_buyer":
        updated = await acp.update(session_id, {"buyer": {"email": "marie@example.fr"}})
        assert updated.body["status"] == "authentication_required"
    elif how == "complete_with_buyer":
        extra["buyer"] = {"email": "marie@example.fr"}
    else:
        extra["order_notes"] = "Leave it at the door."
    result = {"outcome": outcome, "outcome_details": AUTHENTICATED["outcome_details"]}

    failed = await acp.complete(session_id, completing(TOKEN, result, **extra))

    assert_not_completed(failed)
    assert confirms(fake_stripe) == []
    assert fake_stripe.succeeded() == []
    assert fake_stripe.intents[intent_id]["status"] == "requires_action"


async def test_a_buyer_update_keeps_the_payment_intent_for_the_authentication(
    acp: AcpClient, fake_stripe: FakeStripe
) -> None:
    session_id, intent_id = await challenged(acp, fake_stripe)
    total = total_of(await acp.get(session_id))

    kept = await acp.update(
        session_id, {"buyer": {"email": "marie@example.fr"}, "order_notes": "Ring twice."}
    )
    assert kept.body["status"] == "authentication_required"
    assert "authentication_metadata" in kept.body
    done = await acp.complete(session_id, completing(TOKEN, AUTHENTICATED))

    assert done.body["status"] == "completed", done.body
    assert fake_stripe.cancels() == []
    assert confirms(fake_stripe) == [intent_id]
    assert [pi["id"] for pi in fake_stripe.succeeded()] == [intent_id]
    assert fake_stripe.intents[intent_id]["amount"] == total


async def test_a_cart_change_cancels_the_payment_intent_and_the_next_complete_starts_over(
    acp: AcpClient, fake_stripe: FakeStripe
) -> None:
    session_id, intent_id = await challenged(acp, fake_stripe)
    before = total_of(await acp.get(session_id))

    updated = await acp.update(session_id, {"line_items": [{"id": "item_123", "quantity": 2}]})

    assert updated.status == 200, updated.body
    assert updated.body["status"] == "ready_for_payment"
    assert "authentication_metadata" not in updated.body
    total = total_of(updated)
    assert total != before
    (cancel,) = fake_stripe.cancels()
    assert cancel.path == f"/v1/payment_intents/{intent_id}/cancel"
    assert fake_stripe.intents[intent_id]["status"] == "canceled"

    # The same token cannot pay another amount (one charge per token); the
    # canceled intent is never confirmed.
    reused = await acp.complete(session_id, completing(TOKEN, AUTHENTICATED))
    assert_not_completed(reused)
    assert confirms(fake_stripe) == []

    # A new token makes a new PaymentIntent for the new total, with its own challenge.
    fake_stripe.outcomes[OTHER_TOKEN] = "requires_action"
    again = await acp.complete(session_id, completing(OTHER_TOKEN, AUTHENTICATED))
    assert again.body["status"] == "authentication_required", again.body
    done = await acp.complete(session_id, completing(OTHER_TOKEN, AUTHENTICATED))
    assert done.body["status"] == "completed", done.body
    (paid,) = fake_stripe.succeeded()
    assert paid["id"] != intent_id
    assert paid["amount"] == total
    assert confirms(fake_stripe) == [paid["id"]]


async def test_a_shipping_change_of_the_total_cancels_the_payment_intent(
    acp: AcpClient, fake_stripe: FakeStripe
) -> None:
    session_id, intent_id = await challenged(acp, fake_stripe)
    express = {"type": "shipping", "option_id": "shipping_express", "item_ids": ["item_123"]}
    updated = await acp.update(session_id, {"selected_fulfillment_options": [express]})
    assert updated.body["status"] == "ready_for_payment", updated.body
    assert [c.path for c in fake_stripe.cancels()] == [f"/v1/payment_intents/{intent_id}/cancel"]


async def test_stripe_unreachable_for_the_cancel_keeps_the_pending_payment(
    acp: AcpClient, fake_stripe: FakeStripe
) -> None:
    """Nothing is dropped that Stripe did not cancel: a retryable 502, the session
    unchanged; once Stripe answers, the change goes through."""
    session_id, intent_id = await challenged(acp, fake_stripe)
    before = total_of(await acp.get(session_id))
    fake_stripe.faults = ["500", "500", "500"]  # outlasts the stripe client's two retries
    change = {"line_items": [{"id": "item_123", "quantity": 2}]}

    down = await acp.update(session_id, change)

    assert down.status == 502, down.body
    assert down.body["type"] == "processing_error"
    assert down.headers["Retry-After"] == "1"
    kept = await acp.get(session_id)
    assert kept.body["status"] == "authentication_required"
    assert total_of(kept) == before
    assert fake_stripe.intents[intent_id]["status"] == "requires_action"

    updated = await acp.update(session_id, change)
    assert updated.body["status"] == "ready_for_payment", updated.body
    assert fake_stripe.intents[intent_id]["status"] == "canceled"


async def test_an_intent_confirmed_meanwhile_is_not_voided_and_completes(
    acp: AcpClient, fake_stripe: FakeStripe
) -> None:
    """A confirm that reached Stripe but whose answer was lost: the cancel finds
    the intent succeeded, so the change is refused (409) and the money not lost;
    the next complete with the authentication result places the order."""
    session_id, intent_id = await challenged(acp, fake_stripe)
    total = total_of(await acp.get(session_id))
    fake_stripe.intents[intent_id]["status"] = "succeeded"  # as if confirmed, answer lost

    refused = await acp.update(session_id, {"line_items": [{"id": "item_123", "quantity": 2}]})

    assert refused.status == 409, refused.body
    assert refused.body["code"] == "payment_in_progress"
    assert (await acp.get(session_id)).body["status"] == "authentication_required"
    done = await acp.complete(session_id, completing(TOKEN, AUTHENTICATED))
    assert done.body["status"] == "completed", done.body
    order_total = next(t["amount"] for t in done.body["order"]["totals"] if t["type"] == "total")
    assert order_total == total
    assert [pi["id"] for pi in fake_stripe.succeeded()] == [intent_id]


async def test_canceling_the_session_cancels_the_payment_intent(
    acp: AcpClient, fake_stripe: FakeStripe
) -> None:
    session_id, intent_id = await challenged(acp, fake_stripe)
    canceled = await acp.cancel(session_id)
    assert canceled.status == 200, canceled.body
    assert canceled.body["status"] == "canceled"
    assert fake_stripe.intents[intent_id]["status"] == "canceled"
    assert len(fake_stripe.cancels()) == 1
