"""A session is one session in every version: created in one version, it is read,
updated, completed, canceled in another, and every answer is valid against the
JSON Schema of the request's version (the client checks each body)."""

from __future__ import annotations

from typing import Any

import pytest

from agentic_commerce.protocol.traits import BY_VERSION, SHOWN_AS
from tests.http.conftest import (
    ADDRESS,
    AUTHENTICATED,
    NEWEST,
    THREE_DS,
    VERSIONS,
    AcpClient,
    Reply,
    address_update,
    create_body,
    interventions,
    payment,
    shipping_choice,
)

# Every ordered pair of two served versions: (the version that creates, the one that uses).
PAIRS = [pytest.param(a, b, id=f"{a}-to-{b}") for a in VERSIONS for b in VERSIONS if a != b]


def total_of(reply: Reply) -> int:
    return int(next(t["amount"] for t in reply.body["totals"] if t["type"] == "total"))


async def created(client: AcpClient, **extra: Any) -> str:
    version = client.version
    reply = await client.create(create_body(version, **address_update(version), **extra))
    assert reply.status == 201, reply.body
    assert reply.body["status"] == "ready_for_payment"
    return str(reply.body["id"])


@pytest.mark.parametrize(("created_in", "used_in"), PAIRS)
async def test_read_update_and_complete_in_another_version(
    acp: AcpClient, created_in: str, used_in: str
) -> None:
    maker, user = acp.using(created_in), acp.using(used_in)
    session_id = await created(maker)

    read = await user.get(session_id)
    assert read.status == 200
    assert read.body["status"] == "ready_for_payment"
    updated = await user.update(
        session_id, shipping_choice(used_in, "shipping_express", ["item_123"])
    )
    assert updated.status == 200, updated.body
    assert total_of(updated) > total_of(read)

    done = await user.complete(session_id, payment(used_in))
    assert done.status == 200, done.body
    assert done.body["status"] == "completed"
    assert done.body["order"]["checkout_session_id"] == session_id
    seen = await maker.get(session_id)  # and its maker sees it done, in its own shape
    assert seen.body["status"] == "completed"
    assert total_of(seen) == total_of(done)


@pytest.mark.parametrize(("created_in", "used_in"), PAIRS)
async def test_cancel_in_another_version(acp: AcpClient, created_in: str, used_in: str) -> None:
    session_id = await created(acp.using(created_in))
    canceled = await acp.using(used_in).cancel(session_id)
    assert canceled.status == 200, canceled.body
    assert canceled.body["status"] == "canceled"
    assert (await acp.using(created_in).get(session_id)).body["status"] == "canceled"
    again = await acp.using(used_in).cancel(session_id)
    assert again.status == 405


@pytest.mark.parametrize("created_in", THREE_DS)
@pytest.mark.parametrize("used_in", VERSIONS)
async def test_a_payment_waiting_for_3ds_in_every_version(
    acp: AcpClient, created_in: str, used_in: str
) -> None:
    maker = acp.using(created_in)
    session_id = await created(maker, **interventions(created_in, ["3ds"]))
    challenged = await maker.complete(session_id, payment(created_in, "tok_test_3ds"))
    assert challenged.body["status"] == "authentication_required"

    read = await acp.using(used_in).get(session_id)
    known = "authentication_required" in BY_VERSION[used_in].statuses
    expected = "authentication_required" if known else SHOWN_AS["authentication_required"]
    assert read.body["status"] == expected
    assert ("authentication_metadata" in read.body) is known
    if BY_VERSION[used_in].three_ds:  # it sends the agent's result in its own shape
        body = dict(payment(used_in, "tok_test_3ds"), authentication_result=AUTHENTICATED)
        done = await acp.using(used_in).complete(session_id, body)
        assert done.body["status"] == "completed", done.body
    else:  # no `authentication_result` in this version: the payment keeps waiting
        refused = await acp.using(used_in).complete(session_id, payment(used_in, "tok_test_3ds"))
        assert (refused.status, refused.body["code"]) == (400, "requires_3ds")


@pytest.mark.parametrize("used_in", [v for v in VERSIONS if v != NEWEST])
async def test_what_2026_04_17_added_is_left_out_in_older_versions(
    acp: AcpClient, used_in: str
) -> None:
    """A company in the address and order notes (2026-04-17 only) are kept, and not
    shown where the version has no such field (the schema check would fail)."""
    newest = acp.using(NEWEST)
    address = dict(ADDRESS, company="Acme Corp")
    session_id = await created(newest, order_notes="Leave it at the door.")
    await newest.update(session_id, {"fulfillment_details": {"name": "Jane", "address": address}})

    read = await acp.using(used_in).get(session_id)
    assert read.status == 200
    assert "Acme Corp" not in str(read.body)
    done = await acp.using(used_in).complete(session_id, payment(used_in))
    assert done.body["status"] == "completed"
    assert "order_notes" not in str(done.body)
    again = await newest.get(session_id)
    assert again.body["fulfillment_details"]["address"]["company"] == "Acme Corp"
    assert again.body["order"]["confirmation"]["order_notes"] == "Leave it at the door."


JAN30 = "2026-01-30"
COMPANY_ADDRESS = dict(ADDRESS, company="Acme Corp")
CONSENTS = [{"channel": "email", "opted_in": True}]


@pytest.mark.parametrize(
    ("endpoint", "extra", "param"),
    [
        ("create", {"order_notes": "x"}, "$.order_notes"),
        (
            "create",
            {"fulfillment_details": {"address": COMPANY_ADDRESS}},
            "$.fulfillment_details.address.company",
        ),
        ("update", {"order_notes": "x"}, "$.order_notes"),
        ("complete", {"order_notes": "x"}, "$.order_notes"),
        ("complete", {"marketing_consents": CONSENTS}, "$.marketing_consents"),
        (
            "payment_data",
            {"billing_address": COMPANY_ADDRESS},
            "$.payment_data.billing_address.company",
        ),
    ],
    ids=["create-notes", "create-company", "update-notes", "complete-notes", "consents", "billing"],
)
async def test_what_2026_04_17_added_is_an_unknown_field_in_2026_01_30(
    acp: AcpClient, endpoint: str, extra: dict[str, Any], param: str
) -> None:
    """`extra` goes into the body of `endpoint` (`payment_data`: into the complete's)."""
    client = acp.using(JAN30)
    if endpoint == "create":
        reply = await client.create(create_body(JAN30, **extra))
    elif endpoint == "update":
        reply = await client.update(await created(client), extra)
    else:
        body = payment(JAN30)
        (body["payment_data"] if endpoint == "payment_data" else body).update(extra)
        reply = await client.complete(await created(client), body)
    assert reply.status == 400, reply.body
    assert reply.body["code"] == "unknown_field"
    assert reply.body["param"] == param
