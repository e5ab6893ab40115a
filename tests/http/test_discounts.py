"""The discount extension over HTTP, on each store: negotiation, codes applied and
refused, replacement on update, usage limits held at complete and counted only
for placed orders. Every body is checked against its version's JSON Schema by the
client; the demo catalog's promotions (WELCOME10, SAVE5, EXPIRED) plus a few of
this module's are served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config.settings import DEFAULT_CATALOG, Settings
from tests import acp_schema
from tests.http.conftest import (
    OLDEST,
    VERSIONS,
    AcpClient,
    address_update,
    create_body,
    payment,
)
from tests.waiting import eventually

EXTENSION = {"extensions": ["discount"]}
PROMOTIONS = [
    *orjson.loads(DEFAULT_CATALOG.read_bytes())["promotions"],
    {
        "id": "cables",
        "code": "CABLES",
        "name": "Half price on cables",
        "percent_off": 50,
        "method": "each",
        "product_ids": ["usb_c_cable"],
    },
    {
        "id": "limited",
        "code": "LIMITED",
        "name": "1.00 off, twice only",
        "amount_off": 100,
        "currency": "usd",
        "usage_limit": 2,
    },
    {"id": "solo", "code": "SOLO", "name": "30% alone", "percent_off": 30, "combinable": False},
    {  # automatic, on one product that no other test here buys
        "id": "test_week",
        "name": "10% off the test product",
        "percent_off": 10,
        "method": "each",
        "product_ids": ["test"],
    },
    {
        "id": "future",
        "code": "FUTURE",
        "name": "Next year",
        "percent_off": 5,
        "start": "2099-01-01T00:00:00Z",
    },
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    path = tmp_path / "promotions.json"
    path.write_bytes(orjson.dumps({"promotions": PROMOTIONS}))
    return Settings(promotions_file=path)


def checkout(*items: tuple[str, int], codes: list[str] | None = None, **extra: Any) -> Any:
    body: dict[str, Any] = {
        "currency": "usd",
        "line_items": [{"id": product, "quantity": quantity} for product, quantity in items],
        "capabilities": EXTENSION,
        **address_update("2026-04-17"),
        **extra,
    }
    if codes is not None:
        body["discounts"] = {"codes": codes}
    return body


def totals(body: dict[str, Any]) -> dict[str, int]:
    return {t["type"]: t["amount"] for t in body["totals"]}


def rejected(body: dict[str, Any]) -> dict[str, str]:
    return {r["code"]: r["reason"] for r in body["discounts"].get("rejected", [])}


def add_up(body: dict[str, Any]) -> None:
    t = totals(body)
    assert t["total"] == t["subtotal"] - t.get("discount", 0) + t["fulfillment"] + t["tax"]
    assert t["items_discount"] == sum(
        x["amount"]
        for line in body["line_items"]
        for x in line["totals"]
        if x["type"] == "discount"
    )


async def test_negotiated_codes_stack_and_tax_follows(acp: AcpClient) -> None:
    reply = await acp.create(checkout(("item_123", 1), codes=["welcome10", "SAVE5"]))
    assert reply.status == 201
    body = reply.body
    [declared] = body["capabilities"]["extensions"]
    assert declared["name"] == "discount"
    assert "$.CheckoutSession.discounts" in declared["extends"]
    assert body["discounts"]["codes"] == ["welcome10", "SAVE5"]
    applied = body["discounts"]["applied"]
    assert [(a["code"], a["amount"], a["method"]) for a in applied] == [
        ("welcome10", 800, "across"),  # 10% of 79.99, rounded half up
        ("SAVE5", 500, "across"),  # then 5.00 off what is left
    ]
    assert applied[0]["coupon"] == {
        "id": "welcome10",
        "name": "10% off your order",
        "percent_off": 10,
        "duration": "once",
        "max_redemptions": 1000,
    }
    t = totals(body)
    assert t["discount"] == 1300 and t["items_discount"] == 0
    assert t["tax"] == round((7999 - 1300) * 0.0875)  # California, on the discounted amount
    add_up(body)
    assert body["status"] == "ready_for_payment"


async def test_refused_codes_are_listed_and_warned(acp: AcpClient) -> None:
    codes = ["NOPE", "EXPIRED", "FUTURE", "SAVE5", "WELCOME10", "welcome10", "SOLO"]
    reply = await acp.create(checkout(("usb_c_cable", 1), codes=codes))
    assert reply.status == 201
    assert rejected(reply.body) == {
        "NOPE": "discount_code_invalid",
        "EXPIRED": "discount_code_expired",
        "FUTURE": "discount_code_expired",
        "SAVE5": "discount_code_minimum_not_met",  # 19.99 < 25.00
        "welcome10": "discount_code_already_applied",
        "SOLO": "discount_code_combination_disallowed",
    }
    warnings = {m["param"]: m["code"] for m in reply.body["messages"] if m["type"] == "warning"}
    assert warnings == {
        f"$.discounts.codes[{i}]": reason
        for i, code in enumerate(codes)
        if (reason := rejected(reply.body).get(code))
    }
    assert "expired on 2025-12-31" in reply.body["discounts"]["rejected"][1]["message"]
    assert [a["code"] for a in reply.body["discounts"]["applied"]] == ["WELCOME10"]
    assert reply.body["status"] == "ready_for_payment"  # refused codes never block


async def test_an_each_discount_is_allocated_to_its_lines(acp: AcpClient) -> None:
    reply = await acp.create(checkout(("item_123", 1), ("usb_c_cable", 2), codes=["CABLES"]))
    [cables] = reply.body["discounts"]["applied"]
    assert cables["method"] == "each"
    assert cables["allocations"] == [{"path": "$.line_items[1]", "amount": 1999}]
    assert cables["amount"] == 1999
    line = {t["type"]: t["amount"] for t in reply.body["line_items"][1]["totals"]}
    assert line["discount"] == 1999 and line["subtotal"] == 1999
    assert totals(reply.body)["items_discount"] == 1999
    assert "discount" not in totals(reply.body)
    add_up(reply.body)


async def test_update_replaces_the_codes_and_an_empty_list_clears(acp: AcpClient) -> None:
    created = await acp.create(checkout(("item_123", 1), codes=["WELCOME10"]))
    session_id = created.body["id"]
    replaced = await acp.update(session_id, {"discounts": {"codes": ["SAVE5"]}})
    assert [a["code"] for a in replaced.body["discounts"]["applied"]] == ["SAVE5"]
    assert totals(replaced.body)["discount"] == 500
    alias = await acp.update(session_id, {"coupons": ["WELCOME10"]})  # deprecated alias
    assert alias.body["discounts"]["codes"] == ["WELCOME10"]
    untouched = await acp.update(session_id, {"buyer": {"email": "jane@example.com"}})
    assert untouched.body["discounts"]["codes"] == ["WELCOME10"]
    cleared = await acp.update(session_id, {"discounts": {"codes": []}})
    assert cleared.body["discounts"] == {"codes": [], "applied": [], "rejected": []}
    assert "discount" not in totals(cleared.body)
    add_up(cleared.body)


async def test_without_the_extension_codes_are_refused_and_nothing_applies(
    acp: AcpClient,
) -> None:
    plain = await acp.create(checkout(("item_123", 1)) | {"capabilities": {}})
    reply = await acp.create(checkout(("item_123", 1), codes=["WELCOME10"]) | {"capabilities": {}})
    assert reply.status == 201
    assert "discounts" not in reply.body and "extensions" not in reply.body["capabilities"]
    assert totals(reply.body) == totals(plain.body)
    [warning] = [m for m in reply.body["messages"] if m["type"] == "warning"]
    assert warning["code"] == "discount_code_invalid"
    assert warning["param"] == "$.discounts.codes[0]" and "extension" in warning["content"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"discounts": {"codes": ["<b>x</b>"]}}, "$.discounts.codes[0]"),
        ({"discounts": {"codes": ["A" * 65]}}, "$.discounts.codes[0]"),
        ({"discounts": {"codes": ["A"] * 21}}, "$.discounts.codes"),
        ({"discounts": {"code": ["A"]}}, "$.discounts.code"),
    ],
)
async def test_malformed_codes_are_a_400_that_changes_nothing(
    acp: AcpClient, body: dict[str, Any], param: str
) -> None:
    created = await acp.create(checkout(("item_123", 1), codes=["WELCOME10"]))
    reply = await acp.update(created.body["id"], body)
    assert reply.status == 400 and reply.body["param"] == param
    after = await acp.get(created.body["id"])
    assert after.body["discounts"] == created.body["discounts"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_automatic_promotions_apply_in_every_version(acp: AcpClient, version: str) -> None:
    client = acp.using(version)
    created = await client.create(create_body(version, "test", 2))
    session_id = created.body["id"]
    reply = await client.update(session_id, address_update(version))
    amounts = {t["type"]: t["amount"] for t in reply.body["totals"]}
    assert amounts["items_discount"] == 1000  # 10% of 2 x 50.00, no code needed
    assert amounts["total"] == amounts["subtotal"] + amounts["fulfillment"] + amounts["tax"]
    assert amounts["tax"] == round(9000 * 0.0875)  # on the discounted amount
    assert "discounts" not in reply.body  # shown once negotiated; these agents did not ask


async def test_older_versions_cannot_send_codes(acp: AcpClient) -> None:
    old = acp.using(OLDEST)
    reply = await old.create(create_body(OLDEST, coupons=["WELCOME10"]))
    assert reply.status == 400 and reply.body["param"] == "$.coupons"


async def test_discovery_lists_the_extension(acp: AcpClient) -> None:
    reply = await acp._client.get("/.well-known/acp.json")
    body = await reply.get_json()
    acp_schema.validate("2026-04-17", "DiscoveryResponse", body)
    [extension] = body["capabilities"]["extensions"]
    assert extension["name"] == "discount" and extension["schema"].endswith("2026-01-27.json")


async def level(system: ActorSystem, promotion: str) -> tuple[int, int]:
    stock = await system.store.stock(f"promotion:{promotion}")
    return stock.on_hand, stock.reserved


async def sold_out(system: ActorSystem) -> None:
    """Both uses sold (the sale is told after the order's answer)."""

    async def sold() -> bool:
        return await level(system, "limited") == (0, 0)

    await eventually(sold)


async def test_a_use_counts_only_when_the_order_is_placed(
    acp: AcpClient, system: ActorSystem
) -> None:
    assert await level(system, "limited") == (2, 0)
    declined = await acp.create(checkout(("item_123", 1), codes=["LIMITED"]))
    reply = await acp.complete(declined.body["id"], payment("2026-04-17", "tok_test_decline"))
    assert "order" not in reply.body
    assert await level(system, "limited") == (2, 0)  # held at complete, given back
    canceled = await acp.create(checkout(("item_123", 1), codes=["LIMITED"]))
    await acp.cancel(canceled.body["id"])
    assert await level(system, "limited") == (2, 0)

    orders = []
    for _ in range(2):
        session = await acp.create(checkout(("item_123", 1), codes=["LIMITED"]))
        done = await acp.complete(session.body["id"], payment("2026-04-17"))
        assert done.body["status"] == "completed"
        orders.append(done.body)
    assert all(totals(o)["discount"] == 100 for o in orders)
    await sold_out(system)
    late = await acp.create(checkout(("item_123", 1), codes=["LIMITED"]))
    assert rejected(late.body) == {"LIMITED": "discount_code_usage_limit_reached"}
    assert "discount" not in totals(late.body)


async def test_the_last_use_taken_meanwhile_is_refused_at_complete(
    acp: AcpClient, system: ActorSystem
) -> None:
    """Three sessions apply the code while two uses are left; the third complete
    finds none and answers the new total instead of charging it unseen."""
    sessions = [await acp.create(checkout(("item_123", 1), codes=["LIMITED"])) for _ in range(3)]
    assert all(totals(s.body)["discount"] == 100 for s in sessions)
    for session in sessions[:2]:
        done = await acp.complete(session.body["id"], payment("2026-04-17"))
        assert done.body["status"] == "completed"
    third = sessions[2].body
    refused = await acp.complete(third["id"], payment("2026-04-17"))
    assert refused.status == 200 and refused.body["status"] == "ready_for_payment"
    assert rejected(refused.body) == {"LIMITED": "discount_code_usage_limit_reached"}
    assert totals(refused.body)["total"] == totals(third)["total"] + 100 + 9  # tax on 1.00
    paid = await acp.complete(third["id"], payment("2026-04-17"))
    assert paid.body["status"] == "completed" and "discount" not in totals(paid.body)
    await sold_out(system)
