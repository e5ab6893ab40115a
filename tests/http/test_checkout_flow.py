"""Full checkout flows through the real app, for every served API version."""

from __future__ import annotations

import pytest
import trio

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.protocol.traits import BY_VERSION
from tests.http.conftest import (
    ADDRESS,
    VERSIONS,
    AcpClient,
    address_update,
    create_body,
    payment,
    shipping_choice,
)
from tests.waiting import eventually

pytestmark = pytest.mark.parametrize("version", VERSIONS)


def total(body: dict, kind: str) -> int:
    return next(t["amount"] for t in body["totals"] if t["type"] == kind)


async def test_create_without_address_is_not_ready(acp: AcpClient, version: str) -> None:
    reply = await acp.using(version).create(create_body(version))
    assert reply.status == 201
    body = reply.body
    assert body["id"].startswith("cs_")
    assert body["status"] == "not_ready_for_payment"
    assert body["fulfillment_options"] == []
    missing = [m for m in body["messages"] if m["type"] == "error"]
    assert missing and missing[0]["code"] == "missing"
    assert total(body, "subtotal") == 7999
    assert total(body, "total") == 7999


async def test_full_flow_creates_one_order(
    acp: AcpClient, system: ActorSystem, version: str
) -> None:
    client = acp.using(version)
    created = await client.create(create_body(version, quantity=2))
    session_id = created.body["id"]

    addressed = await client.update(session_id, address_update(version))
    assert addressed.status == 200
    assert addressed.body["status"] == "ready_for_payment"
    option_ids = [o["id"] for o in addressed.body["fulfillment_options"]]
    assert option_ids == ["shipping_standard", "shipping_express"]
    # Two mice: 15998 subtotal, CA tax 8.75% = 1399.825 -> 1400, standard shipping free.
    assert total(addressed.body, "subtotal") == 15998
    assert total(addressed.body, "tax") == 1400
    assert total(addressed.body, "fulfillment") == 0

    choose = shipping_choice(version, "shipping_express", ["item_123"])
    express = await client.update(session_id, choose)
    assert express.status == 200
    assert total(express.body, "fulfillment") == 1500
    assert total(express.body, "total") == 15998 + 1400 + 1500

    done = await client.complete(session_id, payment(version))
    assert done.status == 200
    assert done.body["status"] == "completed"
    order = done.body["order"]
    assert order["checkout_session_id"] == session_id
    assert order["permalink_url"] == f"https://shop.example.com/orders/{order['id']}"

    async def sold() -> bool:  # the units are sold just after the answer
        level = await system.store.stock("item_123")
        return (level.on_hand, level.reserved) == (248, 0)

    await eventually(sold)

    again = await client.get(session_id)
    assert again.body["status"] == "completed"
    if BY_VERSION[version].order_in_session:
        assert again.body["order"]["id"] == order["id"]
    else:  # only the complete endpoint answers the order (CheckoutSessionWithOrder)
        assert "order" not in again.body
        repeated = await client.complete(session_id, payment(version))
        assert repeated.body["order"]["id"] == order["id"]


async def test_declined_payment_stays_ready(
    acp: AcpClient, system: ActorSystem, version: str
) -> None:
    client = acp.using(version)
    session_id = (await client.create(create_body(version, **address_update(version)))).body["id"]
    declined = await client.complete(session_id, payment(version, "tok_test_decline"))
    assert declined.status == 200
    assert declined.body["status"] == "ready_for_payment"
    assert "order" not in declined.body
    codes = [m.get("code") for m in declined.body["messages"]]
    assert "payment_declined" in codes
    assert await system.store.load_order("x") is None
    paid = await client.complete(session_id, payment(version))
    assert paid.body["status"] == "completed"
    assert "payment_declined" not in [m.get("code") for m in paid.body["messages"]]


async def test_cancel_then_terminal_rules(acp: AcpClient, version: str) -> None:
    client = acp.using(version)
    session_id = (await client.create(create_body(version))).body["id"]
    canceled = await client.cancel(session_id)
    assert canceled.status == 200
    assert canceled.body["status"] == "canceled"
    assert (await client.cancel(session_id)).status == 405
    update = await client.update(session_id, address_update(version))
    assert update.status == 400
    assert update.body["code"] == "session_canceled"
    complete = await client.complete(session_id, payment(version))
    assert complete.status == 400
    assert (await client.get(session_id)).body["status"] == "canceled"


async def test_cancel_of_completed_session_is_405(acp: AcpClient, version: str) -> None:
    client = acp.using(version)
    session_id = (await client.create(create_body(version, **address_update(version)))).body["id"]
    await client.complete(session_id, payment(version))
    refused = await client.cancel(session_id)
    assert refused.status == 405
    assert (await client.get(session_id)).body["status"] == "completed"


async def test_out_of_stock_is_a_message(acp: AcpClient, version: str) -> None:
    client = acp.using(version)
    reply = await client.create(create_body(version, product="usb_c_cable", quantity=4))
    assert reply.status == 201
    assert reply.body["status"] == "not_ready_for_payment"
    errors = [m for m in reply.body["messages"] if m.get("code") == "out_of_stock"]
    assert errors and errors[0]["param"] == "$.line_items[0]"


async def test_invalid_email_is_a_message_and_not_stored(acp: AcpClient, version: str) -> None:
    client = acp.using(version)
    buyer = {"first_name": "Jo", "last_name": "Do", "email": "not-an-email"}
    reply = await client.create(create_body(version, buyer=buyer, **address_update(version)))
    assert reply.status == 201
    assert "buyer" not in reply.body
    invalid = [m for m in reply.body["messages"] if m.get("param") == "$.buyer.email"]
    assert invalid and invalid[0]["code"] == "invalid"
    assert reply.body["status"] == "not_ready_for_payment"


async def test_impossible_phone_is_invalid(acp: AcpClient, version: str) -> None:
    client = acp.using(version)
    buyer = {"first_name": "Jo", "last_name": "Do", "email": "jo@example.com", "phone_number": "12"}
    reply = await client.create(create_body(version, buyer=buyer))
    invalid = [m for m in reply.body["messages"] if m.get("param") == "$.buyer.phone_number"]
    assert invalid and invalid[0]["code"] == "invalid"
    assert "phone_number" not in reply.body.get("buyer", {})


async def test_twenty_concurrent_completes_make_one_order(
    acp: AcpClient, system: ActorSystem, version: str
) -> None:
    client = acp.using(version)
    session_id = (await client.create(create_body(version, **address_update(version)))).body["id"]
    orders: list[str] = []

    async def complete() -> None:
        reply = await client.complete(session_id, payment(version))
        assert reply.status == 200
        orders.append(reply.body["order"]["id"])

    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(complete)
    assert len(orders) == 20
    assert len(set(orders)) == 1
    assert await system.store.load_order(orders[0]) is not None
    level = await system.store.stock("item_123")
    assert level.on_hand == 249


async def test_sessions_are_private_to_their_merchant(
    acp: AcpClient, system: ActorSystem, version: str
) -> None:
    client = acp.using(version)
    session_id = (await client.create(create_body(version))).body["id"]
    system_keys = system.settings.api_keys
    assert len(system_keys) == 1  # only the demo merchant exists in this fixture
    missing = await client.get("cs_does_not_exist")
    assert missing.status == 404
    assert missing.body["code"] == "not_found"
    assert (await client.get(session_id)).status == 200


async def test_address_change_recomputes_tax(acp: AcpClient, version: str) -> None:
    client = acp.using(version)
    session_id = (await client.create(create_body(version, **address_update(version)))).body["id"]
    ny = dict(ADDRESS, state="NY", city="New York", postal_code="10001")
    reply = await client.update(session_id, address_update(version, ny))
    # 7999 at NY 8.375% = 669.91 -> 670; NY taxes shipping: 500 x 8.375% = 41.875 -> 42.
    assert total(reply.body, "tax") == 670 + 42
