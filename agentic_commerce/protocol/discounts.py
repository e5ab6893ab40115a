"""The discount extension on the wire (2026-01-30 and 2026-04-17): which extensions an
agent asks for, its codes, and the `discounts` object and extension declaration of a
session (`schema.discount.json`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentic_commerce.domain import discounts, model
from agentic_commerce.domain.discounts import Applied, Discounts
from agentic_commerce.protocol.base import JSON, number, timestamp

SCHEMA_URL = f"https://agenticcommerce.dev/schemas/discount/{discounts.EXTENSION_VERSION}.json"
SPEC_URL = "https://agenticcommerce.dev/specs/discount"
EXTENDS = (
    "$.CheckoutSessionCreateRequest.discounts",
    "$.CheckoutSessionUpdateRequest.discounts",
    "$.CheckoutSession.discounts",
)


def requested(extensions: Sequence[Any] | None) -> tuple[str, ...]:
    """The extension names an agent sent: identifiers, as the request schema has them
    (declaration objects, the response form, are read by their `name`)."""
    names = []
    for entry in extensions or ():
        name = entry.get("name") if isinstance(entry, dict) else entry
        if isinstance(name, str):
            names.append(name)
    return tuple(names)


def codes(discounts_sent: Any, coupons: Sequence[str] | None) -> tuple[str, ...]:
    """The codes of a request: `discounts.codes`, else the deprecated `coupons` alias."""
    sent = getattr(discounts_sent, "codes", None)
    return tuple(sent if sent is not None else coupons or ())


def declarations(session: model.Session) -> list[JSON]:
    """`capabilities.extensions` of a session: the extensions active for it."""
    if discounts.EXTENSION not in session.extensions:
        return []
    return [{"name": discounts.EXTENSION, "extends": list(EXTENDS), "schema": SCHEMA_URL}]


def discovered(extensions: Sequence[str]) -> list[JSON]:
    """The discovery document's entries for the extensions a merchant offers."""
    return [
        {"name": name, "spec": SPEC_URL, "schema": SCHEMA_URL}
        for name in extensions
        if name == discounts.EXTENSION
    ]


def _coupon(applied: Applied, currency: str) -> JSON:
    promotion = applied.promotion
    coupon: JSON = {"id": promotion.id, "name": promotion.name}
    if promotion.percent_off is not None:
        coupon["percent_off"] = number(promotion.percent_off)
    else:
        coupon["amount_off"] = promotion.amount_off
        coupon["currency"] = promotion.currency or currency
    coupon["duration"] = "once"
    if promotion.usage_limit is not None:
        coupon["max_redemptions"] = promotion.usage_limit
    return coupon


def _applied(applied: Applied, currency: str) -> JSON:
    promotion = applied.promotion
    body: JSON = {"id": f"di_{promotion.id}"}
    if applied.code is not None:
        body["code"] = applied.code
    body["coupon"] = _coupon(applied, currency)
    body["amount"] = applied.amount
    body["automatic"] = promotion.automatic
    if promotion.start is not None:
        body["start"] = timestamp(promotion.start)
    if promotion.end is not None:
        body["end"] = timestamp(promotion.end)
    body["method"] = promotion.method
    body["priority"] = promotion.priority
    if promotion.method == "each":
        body["allocations"] = [
            {"path": f"$.line_items[{index}]", "amount": share}
            for index, share in enumerate(applied.shares)
            if share > 0
        ]
    return body


def discounts_json(session: model.Session, applied: Discounts) -> JSON | None:
    """The session's `discounts` (None when the extension is not active for it)."""
    if discounts.EXTENSION not in session.extensions:
        return None
    return {
        "codes": list(session.discount_codes),
        "applied": [_applied(a, session.currency) for a in applied.applied],
        "rejected": [
            {"code": r.code, "reason": r.reason, "message": r.message} for r in applied.rejected
        ],
    }
