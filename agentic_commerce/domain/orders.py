"""Turning a paid session into an order (pure)."""

from __future__ import annotations

from datetime import datetime

from agentic_commerce.domain.model import Order, OrderLine, Payment, Session
from agentic_commerce.domain.pricing import Quote


def place_order(
    session: Session,
    quote: Quote,
    *,
    order_id: str,
    permalink_url: str,
    payment: Payment,
    now: datetime,
) -> Order:
    lines = tuple(
        OrderLine(
            id=pl.line.id,
            product_id=pl.line.product_id,
            title=pl.product.title if pl.product else pl.line.product_id,
            quantity=pl.quantity,
            unit_amount=pl.product.unit_amount if pl.product else 0,
            subtotal=pl.subtotal,
            total=pl.total,
        )
        for pl in quote.lines
    )
    return Order(
        id=order_id,
        checkout_session_id=session.id,
        permalink_url=permalink_url,
        created_at=now,
        currency=session.currency,
        lines=lines,
        totals=quote.totals,
        payment=payment,
        order_notes=session.order_notes,
        marketing_consents=session.marketing_consents,
        attributions=session.attributions,
    )
