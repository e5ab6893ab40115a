"""An order's life after checkout (pure): status moves forward only, refunds never
exceed what was charged.

    created -> confirmed -> shipped -> completed
    canceled from any status before completed; skipping forward is allowed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.model import Order, Refund, Shipment

FORWARD = ("created", "confirmed", "shipped", "completed")
STATUSES = (*FORWARD, "canceled")
REFUND_TYPES = ("original_payment", "store_credit")


def allowed(current: str, target: str) -> bool:
    if current in ("completed", "canceled"):
        return False
    if target == "canceled":
        return True
    return target in FORWARD and FORWARD.index(target) > FORWARD.index(current)


def change_status(order: Order, status: str, shipment: Shipment | None, now: datetime) -> Order:
    """The order in `status` (with tracking details when given); 409 when not allowed."""
    if status not in STATUSES:
        raise RequestRejected("invalid_status", f"status must be one of {STATUSES}.", "$.status")
    if not allowed(order.status, status):
        raise RequestRejected(
            "invalid_transition",
            f"An order cannot go from {order.status} to {status}.",
            "$.status",
            status=409,
        )
    return replace(order, status=status, shipment=shipment or order.shipment, updated_at=now)


def add_refund(
    order: Order, amount: int, kind: str, reason: str | None, refund_id: str, now: datetime
) -> Order:
    """The order with one more refund; never more than was charged in total."""
    if kind not in REFUND_TYPES:
        raise RequestRejected("invalid_field", f"type must be one of {REFUND_TYPES}.", "$.type")
    if amount <= 0:
        raise RequestRejected("invalid_field", "amount must be positive.", "$.amount")
    if order.refunded + amount > order.payment.amount:
        raise RequestRejected(
            "refund_exceeds_charge",
            f"Refunds would exceed the {order.payment.amount} charged.",
            "$.amount",
            status=409,
        )
    refund = Refund(refund_id, amount, kind, now, reason)
    return replace(order, refunds=(*order.refunds, refund), updated_at=now)
