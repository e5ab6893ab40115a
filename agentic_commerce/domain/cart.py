"""Pure cart operations (the Cart API of 2026-04-17): a lightweight pre-checkout.

A cart has lines, an optional buyer and an expiry, and nothing else: no payment,
no status lifecycle, no stock held. Its estimate is priced by the checkout's own
functions (`pricing`), with no address: no tax, no shipping, so its total is
its subtotal. Items the catalog does not know are left out with a message;
lines short of stock (as the actor read it) are kept with an `out_of_stock`
message. A cart with no available line at all is refused (422), as the spec allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from agentic_commerce.domain import checkout, pricing, tax
from agentic_commerce.domain.catalog import Catalog
from agentic_commerce.domain.commands import LineInput
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.model import Buyer, Line, Message, MessageType

# The estimate's totals: what a cart can know without an address (`discount` only
# when an automatic promotion takes one off the order).
ESTIMATED = ("items_base_amount", "items_discount", "subtotal", "discount", "total")


@dataclass(frozen=True, slots=True)
class Cart:
    """A cart's committed state; its estimate is recomputed by `estimate`."""

    id: str
    merchant_id: str
    currency: str
    lines: tuple[Line, ...]
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    version: int = 0
    buyer: Buyer | None = None
    locale: str | None = None
    short_products: tuple[str, ...] = ()
    notices: tuple[Message, ...] = ()


@dataclass(frozen=True, slots=True)
class EditCart:
    """A create or a full replacement: the cart's whole desired content."""

    lines: tuple[LineInput, ...]
    buyer: Buyer | None = None
    locale: str | None = None  # create only


@dataclass(frozen=True, slots=True)
class CartView:
    """A committed cart with its estimate; `rendered` caches its body (a view never changes)."""

    cart: Cart
    quote: pricing.Quote
    rendered: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)


def wanted_products(command: EditCart, catalog: Catalog) -> set[str]:
    """The known products a command asks for: whose stock the actor reads."""
    return {item.product_id for item in command.lines if catalog.get(item.product_id)}


@dataclass(frozen=True, slots=True)
class _Contents:
    lines: tuple[Line, ...]
    short_products: tuple[str, ...]
    buyer: Buyer | None
    notices: tuple[Message, ...]


def _contents(command: EditCart, catalog: Catalog, available: Mapping[str, int]) -> _Contents:
    """Lines of the known items, the products short of stock, the checked buyer
    (none when its e-mail is invalid) and the notices saying what was left out."""
    notices = [
        Message(MessageType.ERROR, "Unknown item id; it was left out.", "invalid", item.param)
        for item in command.lines
        if catalog.get(item.product_id) is None
    ]
    known = tuple(item for item in command.lines if catalog.get(item.product_id) is not None)
    lines = checkout.build_lines(known, catalog)
    short = tuple(
        line.product_id for line in lines if line.quantity > available.get(line.product_id, 0)
    )
    if len(short) == len(lines):
        raise RequestRejected(
            "out_of_stock", "All requested items are currently unavailable.", None, status=422
        )
    buyer = checkout.checked_buyer(command.buyer, None, notices) if command.buyer else None
    return _Contents(lines, short, buyer, tuple(notices))


def create(
    command: EditCart,
    *,
    cart_id: str,
    merchant_id: str,
    catalog: Catalog,
    available: Mapping[str, int],
    now: datetime,
    ttl: timedelta,
) -> Cart:
    contents = _contents(command, catalog, available)
    return Cart(
        id=cart_id,
        merchant_id=merchant_id,
        currency=catalog.currency,
        lines=contents.lines,
        created_at=now,
        updated_at=now,
        expires_at=now + ttl,
        buyer=contents.buyer,
        locale=command.locale,
        short_products=contents.short_products,
        notices=contents.notices,
    )


def replace_contents(
    cart: Cart,
    command: EditCart,
    catalog: Catalog,
    available: Mapping[str, int],
    now: datetime,
) -> Cart:
    """A full replacement (PUT): lines and buyer as sent; id, locale and expiry kept."""
    contents = _contents(command, catalog, available)
    return replace(
        cart,
        lines=contents.lines,
        buyer=contents.buyer,
        short_products=contents.short_products,
        notices=contents.notices,
        updated_at=now,
    )


def estimate(cart: Cart, catalog: Catalog, now: datetime) -> pricing.Quote:
    """The cart's estimated price: its lines priced as a checkout prices them, without
    an address (no tax, no shipping), less the automatic promotions (a cart has no codes)."""
    applied = pricing.line_discounts(cart.lines, catalog, now, currency=cart.currency)
    priced = pricing.price_lines(cart.lines, catalog, tax.rule_for(None), applied)
    messages = pricing.line_messages(priced, cart.short_products) + list(cart.notices)
    totals = tuple(t for t in pricing.totals(priced, None) if t.type in ESTIMATED)
    return pricing.Quote(priced, (), None, None, totals, tuple(messages))


def expired(cart: Cart, now: datetime) -> bool:
    return now >= cart.expires_at
