"""A payment waiting for 3-D Secure (`authentication_required`), with the simulated
processor (`tok_test_3ds` asks for 3-D Secure): only a successful authentication
result completes it; a change of what would be charged voids it; any other
change keeps it waiting."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from agentic_commerce.payments.base import AUTHENTICATED as SUCCESSFUL
from tests import acp_schema
from tests.domain.test_pending_authentication import OUTCOMES
from tests.http.conftest import (
    ADDRESS,
    AUTHENTICATED,
    AcpClient,
    Reply,
    address_update,
    create_body,
    payment,
)

NEW = "2026-04-17"
TOKEN = "tok_test_3ds"
ACKNOWLEDGED = {
    "outcome": "attempt_acknowledged",
    "outcome_details": {
        "three_ds_cryptogram": "XYZ123FRICTIONLESS456789==",
        "electronic_commerce_indicator": "06",
        "transaction_id": "dsTransId_frictionless_456",
        "version": "2.2.0",
    },
}
# Every outcome that is not a successful authentication; `denied` and `rejected`
# also with the details of a successful one (a processor must not be fooled).
FAILED_OUTCOMES = [o for o in OUTCOMES if o not in SUCCESSFUL]
NY_ADDRESS = {**ADDRESS, "line_one": "5 Broadway", "city": "New York", "state": "NY"}
OTHER_CA_ADDRESS = {**ADDRESS, "line_one": "2 Mission St", "postal_code": "94103"}


def shipping(option_id: str) -> dict[str, Any]:
    return {"type": "shipping", "option_id": option_id, "item_ids": ["item_123"]}


def spec_example(name: str) -> dict[str, Any]:
    path = acp_schema.spec_dir() / NEW / "examples" / "examples.agentic_checkout.json"
    return copy.deepcopy(json.loads(path.read_text())[name])


def with_token(body: dict[str, Any], token: str) -> dict[str, Any]:
    body["payment_data"]["instrument"]["credential"]["token"] = token
    return body


def failed_result(outcome: str) -> dict[str, Any]:
    if outcome in ("denied", "rejected", "informational"):
        return {"outcome": outcome, "outcome_details": AUTHENTICATED["outcome_details"]}
    return {"outcome": outcome}


def total_of(reply: Reply) -> int:
    return int(next(t["amount"] for t in reply.body["totals"] if t["type"] == "total"))


def codes(reply: Reply) -> set[str]:
    return {m.get("code") for m in reply.body["messages"]}


async def challenged(acp: AcpClient, product: str = "item_123", quantity: int = 1) -> str:
    """A session whose payment waits for 3-D Secure."""
    body = create_body(
        NEW,
        product,
        quantity,
        **address_update(NEW),
        capabilities={"interventions": {"supported": ["3ds"]}},
    )
    created = await acp.create(body)
    assert created.status == 201, created.body
    assert created.body["status"] == "ready_for_payment"
    session_id = str(created.body["id"])
    reply = await acp.complete(session_id, payment(NEW, TOKEN))
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "authentication_required"
    return session_id


def assert_waiting(reply: Reply) -> None:
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "authentication_required"
    assert "authentication_metadata" in reply.body
    assert "order" not in reply.body


def assert_not_completed(reply: Reply) -> None:
    assert reply.status == 200, reply.body
    assert reply.body["status"] != "completed"
    assert "order" not in reply.body


async def test_replay_of_the_spec_denied_authentication_example_never_completes(
    acp: AcpClient,
) -> None:
    """`complete_session_with_denied_authentication_request` carries `buyer`: the
    buyer is taken, the authentication is failed, no order is made."""
    session_id = await challenged(acp)
    body = with_token(spec_example("complete_session_with_denied_authentication_request"), TOKEN)

    denied = await acp.complete(session_id, body)

    assert_not_completed(denied)
    assert denied.body["status"] == "ready_for_payment"
    assert "payment_declined" in codes(denied)
    assert denied.body["buyer"]["email"] == "marie.dupont@example.fr"
    assert "order" not in (await acp.get(session_id)).body


@pytest.mark.parametrize("outcome", FAILED_OUTCOMES)
@pytest.mark.parametrize("extra", [{}, {"buyer": {"email": "a@example.com"}}, {"order_notes": "x"}])
async def test_no_failed_authentication_result_completes(
    acp: AcpClient, outcome: str, extra: dict[str, Any]
) -> None:
    session_id = await challenged(acp)
    body = dict(payment(NEW, TOKEN), authentication_result=failed_result(outcome), **extra)
    failed = await acp.complete(session_id, body)
    assert_not_completed(failed)
    assert "payment_declined" in codes(failed)
    # And it stays so: the voided charge is never confirmed by a later failed result.
    again = await acp.complete(session_id, body)
    assert_not_completed(again)


@pytest.mark.parametrize(
    "change",
    [
        {"buyer": {"email": "marie.dupont@example.fr", "first_name": "Marie"}},
        {"order_notes": "Leave it at the door."},
        {"fulfillment_details": {"name": "Jane Doe", "address": OTHER_CA_ADDRESS}},
        {"selected_fulfillment_options": [shipping("shipping_standard")]},
        {"line_items": [{"id": "item_123"}]},  # the same cart again
    ],
    ids=["buyer", "order_notes", "same_total_address", "same_option", "same_cart"],
)
async def test_a_change_that_keeps_the_charge_keeps_the_authentication_pending(
    acp: AcpClient, change: dict[str, Any]
) -> None:
    session_id = await challenged(acp)
    before = total_of(await acp.get(session_id))

    updated = await acp.update(session_id, change)

    assert_waiting(updated)
    assert total_of(updated) == before
    assert_waiting(await acp.get(session_id))
    denied = await acp.complete(
        session_id, dict(payment(NEW, TOKEN), authentication_result={"outcome": "denied"})
    )
    assert_not_completed(denied)
    assert denied.body["status"] == "ready_for_payment"


async def test_the_pending_charge_survives_a_buyer_update_and_completes_when_authenticated(
    acp: AcpClient,
) -> None:
    session_id = await challenged(acp)
    assert_waiting(await acp.update(session_id, {"buyer": {"email": "b@example.com"}}))
    body = dict(
        payment(NEW, TOKEN),
        authentication_result=ACKNOWLEDGED,
        buyer={"email": "c@example.com"},
        order_notes="Ring twice.",
    )
    done = await acp.complete(session_id, body)
    assert done.status == 200, done.body
    assert done.body["status"] == "completed"
    assert done.body["buyer"]["email"] == "c@example.com"
    assert done.body["order"]["checkout_session_id"] == session_id


@pytest.mark.parametrize(
    "change",
    [
        {"line_items": [{"id": "item_123", "quantity": 2}]},
        {"line_items": [{"id": "test"}]},
        {"fulfillment_details": {"name": "Jane Doe", "address": NY_ADDRESS}},
        {"selected_fulfillment_options": [shipping("shipping_express")]},
        {"fulfillment_details": None},
    ],
    ids=["quantity", "other_item", "taxed_address", "shipping_option", "no_address"],
)
async def test_a_change_of_the_charge_voids_the_pending_authentication(
    acp: AcpClient, change: dict[str, Any]
) -> None:
    session_id = await challenged(acp)
    before = total_of(await acp.get(session_id))

    updated = await acp.update(session_id, change)

    assert updated.status == 200, updated.body
    assert updated.body["status"] in ("ready_for_payment", "not_ready_for_payment")
    assert "authentication_metadata" not in updated.body
    assert total_of(updated) != before or change.get("line_items")
    # A successful result does not complete the voided charge: the next complete
    # starts a new one (with a new challenge when the session is payable).
    again = await acp.complete(
        session_id, dict(payment(NEW, TOKEN), authentication_result=AUTHENTICATED)
    )
    assert_not_completed(again)
    if updated.body["status"] == "ready_for_payment":
        assert_waiting(again)
        assert total_of(again) == total_of(updated)


async def test_after_a_void_the_next_complete_starts_over_with_a_fresh_charge(
    acp: AcpClient,
) -> None:
    session_id = await challenged(acp)
    updated = await acp.update(session_id, {"line_items": [{"id": "item_123", "quantity": 2}]})
    assert updated.body["status"] == "ready_for_payment"
    total = total_of(updated)

    # A result sent with the first complete after the void authenticates nothing yet.
    again = await acp.complete(
        session_id, dict(payment(NEW, TOKEN), authentication_result=AUTHENTICATED)
    )
    assert_waiting(again)
    done = await acp.complete(
        session_id, dict(payment(NEW, TOKEN), authentication_result=AUTHENTICATED)
    )
    assert done.body["status"] == "completed", done.body
    order_total = next(t["amount"] for t in done.body["order"]["totals"] if t["type"] == "total")
    assert order_total == total


async def test_a_voided_authentication_does_not_block_another_card(acp: AcpClient) -> None:
    session_id = await challenged(acp)
    await acp.update(session_id, {"line_items": [{"id": "item_123", "quantity": 3}]})
    done = await acp.complete(session_id, payment(NEW, "tok_test_ok"))
    assert done.body["status"] == "completed", done.body


async def test_cancel_while_waiting_for_authentication(acp: AcpClient) -> None:
    session_id = await challenged(acp)
    canceled = await acp.cancel(session_id)
    assert canceled.status == 200
    assert canceled.body["status"] == "canceled"
    refused = await acp.complete(
        session_id, dict(payment(NEW, TOKEN), authentication_result=AUTHENTICATED)
    )
    assert refused.status >= 400
