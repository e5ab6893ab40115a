"""Order status moves forward only; refunds never exceed the charge."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.model import Order, Payment, Shipment, Total
from agentic_commerce.domain.order_lifecycle import (
    FINAL,
    FORWARD,
    STATUSES,
    TRANSITIONS,
    add_refund,
    allowed,
    change_status,
)

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def order(status: str = "created", charged: int = 1000) -> Order:
    return Order(
        id="ord_1",
        checkout_session_id="cs_1",
        permalink_url="https://shop.example.com/orders/ord_1",
        created_at=NOW,
        currency="usd",
        lines=(),
        totals=(Total("total", "Total", charged),),
        payment=Payment("simulated", "ch_1", charged, "usd"),
        status=status,
    )


@pytest.mark.parametrize(
    ("current", "target", "ok"),
    [
        ("created", "confirmed", True),
        ("created", "completed", True),
        ("confirmed", "shipped", True),
        ("shipped", "confirmed", False),
        ("shipped", "canceled", True),
        ("completed", "canceled", False),
        ("canceled", "shipped", False),
        ("created", "created", False),
    ],
)
def test_forward_only(current: str, target: str, ok: bool) -> None:
    assert allowed(current, target) is ok
    if ok:
        assert change_status(order(current), target, None, NOW).status == target
    else:
        with pytest.raises(RequestRejected) as refused:
            change_status(order(current), target, None, NOW)
        assert refused.value.status == 409


def test_shipment_is_kept() -> None:
    shipped = change_status(order(), "shipped", Shipment("UPS", "1Z"), NOW)
    assert change_status(shipped, "completed", None, NOW).shipment == Shipment("UPS", "1Z")


@given(st.lists(st.integers(min_value=-5, max_value=700), max_size=12))
def test_refunds_never_exceed_the_charge(amounts: list[int]) -> None:
    current = order(charged=1000)
    for index, amount in enumerate(amounts):
        with contextlib.suppress(RequestRejected):
            current = add_refund(current, amount, "original_payment", None, f"rf_{index}", NOW)
        assert 0 <= current.refunded <= 1000
        assert all(r.amount > 0 for r in current.refunds)


def test_statuses_cover_the_table() -> None:
    assert set(STATUSES) == {"created", "confirmed", "shipped", "completed", "canceled"}


def test_the_table_holds_the_rules_written_at_its_top() -> None:
    """Forward only (skips allowed), cancel before completion, nothing leaves a final status."""
    assert set(TRANSITIONS) == set(STATUSES)
    for current in STATUSES:
        for target in STATUSES:
            forward = (
                current in FORWARD
                and target in FORWARD
                and FORWARD.index(target) > FORWARD.index(current)
            )
            expected = current not in FINAL and (forward or target == "canceled")
            assert allowed(current, target) is expected, (current, target)
