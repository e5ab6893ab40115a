"""An order's life after checkout (pure): every status change in one table.

Rules:
1. Nothing else changes an order's status; `change_status` applies only what
   `TRANSITIONS` lists for the order's status (409 `invalid_transition` otherwise).
2. Statuses only move forward: created -> confirmed -> shipped -> completed, and
   skipping forward is allowed (a merchant may ship without confirming first).
3. `canceled` is reachable from every status before `completed`.
4. `completed` and `canceled` are final: no row leaves them.
5. Refunds are not status changes: any order may be refunded (`add_refund`), and
   the refunds of an order never exceed what was charged.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.model import Order, Refund, Shipment

FORWARD = ("created", "confirmed", "shipped", "completed")
STATUSES = (*FORWARD, "canceled")
FINAL = frozenset({"completed", "canceled"})
REFUND_TYPES = ("original_payment", "store_credit")

TRANSITIONS: dict[str, frozenset[str]] = {
    "created": frozenset({"confirmed", "shipped", "completed", "canceled"}),
    "confirmed": frozenset({"shipped", "completed", "canceled"}),
    "shipped": frozenset({"completed", "canceled"}),
    "completed": frozenset(),
    "canceled": frozenset(),
}


def allowed(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


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
