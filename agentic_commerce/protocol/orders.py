"""Orders in each version's shape: the 2026-04-17 Order (complete responses, admin
API, webhooks), the short Order of the complete responses of earlier versions and
the 2025-09-29 webhook `EventDataOrder`."""

from __future__ import annotations

from agentic_commerce.domain import model
from agentic_commerce.protocol.base import JSON, timestamp, total
from agentic_commerce.protocol.traits import BY_VERSION, ORDER_STATUS_AS

SHIPPED = ("shipped", "completed")
# 2025-09-29 webhook statuses: created|manual_review|confirmed|canceled|shipped|fulfilled
STATUS_2025 = {"completed": "fulfilled"}


def _line(line: model.OrderLine, order: model.Order) -> JSON:
    current = 0 if order.status == "canceled" else line.quantity
    fulfilled = current if order.status in SHIPPED else 0
    if current == 0:
        status = "removed"
    elif fulfilled == current:
        status = "fulfilled"
    else:
        status = "processing"
    return {
        "id": line.id,
        "title": line.title,
        "product_id": line.product_id,
        "quantity": {"ordered": line.quantity, "current": current, "fulfilled": fulfilled},
        "unit_price": line.unit_amount,
        "subtotal": line.subtotal,
        "status": status,
    }


def _fulfillment(order: model.Order, shipment: model.Shipment) -> JSON:
    body: JSON = {
        "id": f"ful_{order.id}",
        "type": "shipping",
        "status": "delivered" if order.status == "completed" else "shipped",
        "line_items": [{"id": line.id, "quantity": line.quantity} for line in order.lines],
    }
    for key in ("carrier", "tracking_number", "tracking_url"):
        value = getattr(shipment, key)
        if value is not None:
            body[key] = value
    return body


def _adjustment(refund: model.Refund, currency: str) -> JSON:
    body: JSON = {
        "id": refund.id,
        "type": "refund" if refund.type == "original_payment" else "credit",
        "occurred_at": timestamp(refund.created_at),
        "status": "completed",
        "amount": refund.amount,
        "currency": currency,
    }
    if refund.reason is not None:
        body["reason"] = refund.reason
    return body


def order_2026(order: model.Order) -> JSON:
    totals = [total(t) for t in order.totals]
    if order.refunds:
        totals.append(
            {"type": "amount_refunded", "display_text": "Refunded", "amount": order.refunded}
        )
    body: JSON = {
        "type": "order",
        "id": order.id,
        "checkout_session_id": order.checkout_session_id,
        "permalink_url": order.permalink_url,
        "status": order.status,
        "line_items": [_line(line, order) for line in order.lines],
        "totals": totals,
        "confirmation": {"confirmation_number": order.id},
    }
    if order.order_notes is not None:
        body["confirmation"]["order_notes"] = order.order_notes
    if order.shipment is not None:
        body["fulfillments"] = [_fulfillment(order, order.shipment)]
    if order.refunds:
        body["adjustments"] = [_adjustment(r, order.currency) for r in order.refunds]
    return body


def order_reference(order: model.Order, version: str) -> JSON:
    """The Order of a complete response before 2026-04-17: `{id, checkout_session_id,
    permalink_url}`, and `status` where the version has one (2026-01-30's closed enum:
    ours as `ORDER_STATUS_AS` maps it, left out when it has no match there)."""
    body: JSON = {
        "id": order.id,
        "checkout_session_id": order.checkout_session_id,
        "permalink_url": order.permalink_url,
    }
    status = ORDER_STATUS_AS.get(order.status)
    if status is not None and status in (BY_VERSION[version].order_statuses or ()):
        body["status"] = status
    return body


def order_2025(order: model.Order) -> JSON:
    """The 2025-09-29 webhook's EventDataOrder (it has no order id)."""
    return {
        "type": "order",
        "checkout_session_id": order.checkout_session_id,
        "permalink_url": order.permalink_url,
        "status": STATUS_2025.get(order.status, order.status),
        "refunds": [{"type": r.type, "amount": r.amount} for r in order.refunds],
    }


def operator_view(order: model.Order) -> JSON:
    """The order as the admin API shows it: the 2026-04-17 Order, and what only the
    merchant sees (`operator`): the buyer's marketing consents and the affiliate
    attributions, first and last touch apart, each flagged when it had expired on
    arrival. An attribution's token is a secret: only whether one was sent shows."""
    attributions = {}
    for attribution in order.attributions:
        shown = {k: v for k, v in attribution.details.items() if k != "token"}
        shown["token_sent"] = "token" in attribution.details
        attributions[attribution.touchpoint] = {
            **shown,
            "received_at": timestamp(attribution.received_at) if attribution.received_at else None,
            "expired": attribution.expired,
        }
    consents = [{"channel": c.channel, "opted_in": c.opted_in} for c in order.marketing_consents]
    operator = {"marketing_consents": consents, "affiliate_attribution": attributions}
    return {**order_2026(order), "operator": operator}
