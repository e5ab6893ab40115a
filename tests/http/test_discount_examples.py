"""The spec's discount-extension examples (2026-01-30 and 2026-04-17), replayed.

Each example's request is sent as written, with three adaptations: the
`capabilities` the examples forget (with `"extensions": ["discount"]`), their
item ids mapped to demo products, and a shipping address (so that the session
can be ready). The merchant serves promotions named like the examples' coupons.
Our answer must show what the example's does: the same extension declared, the
same codes applied in the same order with the same method and automatic flag,
allocations on the same lines, and the same codes refused for the same reasons.
Amounts differ (our prices are not theirs). Where an example cannot be matched,
the reason is written next to it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from agentic_commerce.config.settings import Settings
from tests import acp_schema
from tests.http.conftest import AcpClient, address_update

ITEMS = {  # the examples' item ids -> demo catalog products
    "item_123": "item_123",
    "item_shirt": "usb_c_cable",
    "item_pants": "item_123",
    "item_laptop": "laptop_pro_16_inch",
    "item_mouse": "item_123",
}
PROMOTIONS = [
    {
        "id": "coupon_save10",
        "code": "SAVE10",
        "name": "$10 Off Your Order",
        "amount_off": 1000,
        "currency": "usd",
    },
    {
        "id": "coupon_summer",
        "code": "SUMMER20",
        "name": "Summer Sale 20% Off",
        "percent_off": 20,
        "method": "each",
        "priority": 1,
    },
    {
        "id": "coupon_loyalty5",
        "code": "LOYALTY5",
        "name": "$5 Loyalty Reward",
        "amount_off": 500,
        "currency": "usd",
        "priority": 2,
    },
    {
        "id": "coupon_expired50",
        "code": "EXPIRED50",
        "name": "Half off",
        "percent_off": 50,
        "end": "2025-12-01T00:00:00Z",
    },
]
AUTOMATIC = {  # served in the automatic example only (it would apply to the others too)
    "id": "coupon_freeship50",
    "name": "Free shipping on orders over $50",
    "amount_off": 599,
    "currency": "usd",
    "minimum_subtotal": 5000,
}
# Where our answer must differ from an example's, and why.
DEVIATIONS = {
    "automatic-discount.json": "its discount goes to shipping ($.totals.fulfillment); ours are "
    "taken off items only, so an `across` automatic discount shows no allocations",
}
NAMES = (
    "automatic-discount.json",
    "order-level-discount.json",
    "percentage-discount-with-allocations.json",
    "rejected-discount-code.json",
    "stacked-discounts.json",
)
VERSIONS = ("2026-01-30", "2026-04-17")


@pytest.fixture(params=NAMES)
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, name: str) -> Settings:
    promotions = [*PROMOTIONS, AUTOMATIC] if name == "automatic-discount.json" else PROMOTIONS
    path = tmp_path / "promotions.json"
    path.write_bytes(orjson.dumps({"promotions": promotions}))
    return Settings(promotions_file=path)


def example(version: str, name: str) -> dict[str, Any]:
    path = acp_schema.spec_dir() / version / "examples" / "discount-extension" / name
    return dict(json.loads(path.read_text()))


def adapted(request: dict[str, Any], version: str) -> dict[str, Any]:
    body = {
        **request,
        "line_items": [{**item, "id": ITEMS[item["id"]]} for item in request["line_items"]],
        "capabilities": {"extensions": ["discount"]},
        **address_update(version),
    }
    return body


def shape(discounts: dict[str, Any], name: str) -> dict[str, Any]:
    """What must match: per applied discount its code, method, automatic flag and
    allocation paths; the refused codes with their reasons."""
    applied = [
        {
            "code": a.get("code"),
            "method": a.get("method", "across"),
            "automatic": a.get("automatic", False),
            "paths": [x["path"] for x in a.get("allocations", [])]
            if name not in DEVIATIONS
            else None,
        }
        for a in discounts["applied"]
    ]
    refused = [(r["code"], r["reason"]) for r in discounts.get("rejected", [])]
    return {"codes": discounts.get("codes", []), "applied": applied, "rejected": refused}


@pytest.mark.parametrize("version", VERSIONS)
async def test_discount_example(acp: AcpClient, version: str, name: str) -> None:
    spec = example(version, name)
    reply = await acp.using(version).create(adapted(spec["request"], version))
    assert reply.status == 201, reply.body
    ours, theirs = reply.body, spec["response"]
    assert [e["name"] for e in ours["capabilities"]["extensions"]] == [
        e["name"] for e in theirs["capabilities"]["extensions"]
    ]
    assert shape(ours["discounts"], name) == shape(theirs["discounts"], name)
    assert ours["status"] == theirs["status"] == "ready_for_payment"
    warned = [(m["code"], m["param"]) for m in ours["messages"] if m["type"] == "warning"]
    expected = [(m["code"], m["param"]) for m in theirs["messages"] if m["type"] == "warning"]
    assert warned == expected
    for applied in ours["discounts"]["applied"]:
        assert sum(x["amount"] for x in applied.get("allocations", [])) in (0, applied["amount"])
