"""The canonical internal model: plain frozen data, shared by every API version.

Codecs translate each version's JSON to and from these types; actors and stores
only ever see them. Money is always an integer in minor units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Session statuses of the newest spec version that this server uses."""

    NOT_READY_FOR_PAYMENT = "not_ready_for_payment"
    READY_FOR_PAYMENT = "ready_for_payment"
    AUTHENTICATION_REQUIRED = "authentication_required"
    COMPLETE_IN_PROGRESS = "complete_in_progress"
    COMPLETED = "completed"
    CANCELED = "canceled"
    EXPIRED = "expired"


class MessageType(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Address:
    name: str
    line_one: str
    city: str
    state: str
    country: str
    postal_code: str
    line_two: str | None = None
    company: str | None = None


@dataclass(frozen=True, slots=True)
class Buyer:
    """Buyer contact; `extra` keeps the newer optional objects (company, loyalty, ...)."""

    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    phone_number: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FulfillmentDetails:
    name: str | None = None
    phone_number: str | None = None
    email: str | None = None
    address: Address | None = None


@dataclass(frozen=True, slots=True)
class Line:
    """One requested line: catalog product and quantity (a decimal in 2025-09-29)."""

    id: str
    product_id: str
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class Message:
    """A business message; `param` is a JSONPath in the newest version's terms.

    A `blocking` error keeps the session from `ready_for_payment`; a payment
    decline is reported without blocking, so the buyer can pay again.
    """

    type: MessageType
    content: str
    code: str | None = None
    param: str | None = None
    blocking: bool = True


@dataclass(frozen=True, slots=True)
class Total:
    type: str
    display_text: str
    amount: int


@dataclass(frozen=True, slots=True)
class OrderLine:
    id: str
    product_id: str
    title: str
    quantity: int
    unit_amount: int
    subtotal: int
    total: int


@dataclass(frozen=True, slots=True)
class Payment:
    """The charge behind an order: never a token, only the processor's reference."""

    processor: str
    reference: str
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class Refund:
    id: str
    amount: int
    type: str  # "original_payment" | "store_credit"
    created_at: datetime
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Shipment:
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None


@dataclass(frozen=True, slots=True)
class MarketingConsent:
    """The buyer's decision for one channel the merchant offered, sent on complete."""

    channel: str
    opted_in: bool


@dataclass(frozen=True, slots=True)
class Attribution:
    """An affiliate's claim to the sale, as the agent sent it: write-only (never shown to
    the agent), kept for the merchant's operators. `first` comes with the create,
    `last` with the complete; `expired` when its `expires_at` had passed on arrival."""

    touchpoint: str  # "first" | "last"
    provider: str
    details: dict[str, Any]  # every field sent, the token included (a secret: never logged)
    received_at: datetime | None = None  # set by the checkout operation that takes it
    expired: bool = False

    def __repr__(self) -> str:
        return f"Attribution({self.touchpoint}, provider={self.provider!r}, details=<redacted>)"


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    checkout_session_id: str
    permalink_url: str
    created_at: datetime
    currency: str
    lines: tuple[OrderLine, ...]
    totals: tuple[Total, ...]
    payment: Payment
    status: str = "created"
    order_notes: str | None = None
    updated_at: datetime | None = None
    shipment: Shipment | None = None
    refunds: tuple[Refund, ...] = ()
    marketing_consents: tuple[MarketingConsent, ...] = ()
    attributions: tuple[Attribution, ...] = ()  # first touch, then last

    @property
    def total(self) -> int:
        return next(t.amount for t in self.totals if t.type == "total")

    @property
    def refunded(self) -> int:
        return sum(r.amount for r in self.refunds)


@dataclass(frozen=True, slots=True)
class Session:
    """A checkout session's committed state. Derived data (prices, totals,
    fulfillment options, messages) is recomputed from this by `pricing.quote`."""

    id: str
    merchant_id: str
    api_version: str
    status: Status
    currency: str
    lines: tuple[Line, ...]
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    version: int = 0
    buyer: Buyer | None = None
    fulfillment: FulfillmentDetails | None = None
    shipping_option_id: str | None = None
    interventions: tuple[str, ...] = ()
    locale: str | None = None
    timezone: str | None = None
    quote_id: str | None = None
    metadata: dict[str, Any] | None = None
    order_notes: str | None = None
    short_products: tuple[str, ...] = ()
    notices: tuple[Message, ...] = ()
    pending_payment: str | None = None  # processor reference of a charge awaiting 3-D Secure
    order: Order | None = None
    attributions: tuple[Attribution, ...] = ()  # first touch (create), last (complete)
    marketing_consents: tuple[MarketingConsent, ...] = ()  # from the complete
    extensions: tuple[str, ...] = ()  # the ACP extensions negotiated on create
    discount_codes: tuple[str, ...] = ()  # as the agent sent them (the last update's)
    exhausted_promotions: tuple[str, ...] = ()  # promotion ids found out of uses
