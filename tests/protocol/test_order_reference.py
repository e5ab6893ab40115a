"""The short Order of complete responses before 2026-04-17 (`orders.order_reference`):
2026-01-30 shows our status in its closed enum, or leaves it out (README table)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agentic_commerce.domain.model import Order, Payment, Total
from agentic_commerce.domain.order_lifecycle import STATUSES
from agentic_commerce.protocol.orders import order_reference
from agentic_commerce.protocol.traits import OLDEST_FIRST
from tests import acp_schema

# Ours -> 2026-01-30's (None: left out).
SHOWN_2026_01_30 = {
    "created": None,
    "confirmed": "confirmed",
    "shipped": "shipped",
    "completed": "delivered",
    "canceled": None,
}
SHORT_ORDER_VERSIONS = [v for v in OLDEST_FIRST if v != "2026-04-17"]


def order(status: str) -> Order:
    return Order(
        id="ord_1",
        checkout_session_id="cs_1",
        permalink_url="https://shop.example.com/orders/ord_1",
        created_at=datetime(2026, 11, 27, tzinfo=UTC),
        currency="usd",
        lines=(),
        totals=(Total("total", "Total", 1000),),
        payment=Payment("simulated", "ch_1", 1000, "usd"),
        status=status,
    )


def test_every_status_of_ours_has_a_row() -> None:
    assert set(SHOWN_2026_01_30) == set(STATUSES)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("version", SHORT_ORDER_VERSIONS)
def test_short_order(version: str, status: str) -> None:
    body = order_reference(order(status), version)
    acp_schema.validate(version, "Order", body)
    shown = SHOWN_2026_01_30[status] if version == "2026-01-30" else None
    assert body.get("status") == shown
    assert {k for k in body if k != "status"} == {"id", "checkout_session_id", "permalink_url"}
