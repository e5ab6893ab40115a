"""Request bodies of `POST /agentic_commerce/delegate_payment`, per version, as
pydantic models mirroring `schema.delegate_payment.json`.

The versions differ in three places: 2025-09-29 needs at least one risk signal,
an IIN of at most 6 characters and a `display_last4` of at most 4; 2026-01-30 is
2025-09-29 with `display_last4` exactly four digits; 2026-04-17 allows an empty
list and an IIN of 8 (`display_last4` still four digits). 2025-12-12 is
2025-09-29; 2026-01-16 is 2025-09-29 with an IIN of 8.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agentic_commerce.protocol.strictness import JsonDateTime, Strict


class Address(Strict):
    name: str = Field(max_length=256)
    line_one: str = Field(max_length=60)
    line_two: str | None = Field(default=None, max_length=60)
    city: str = Field(max_length=60)
    state: str
    country: str = Field(min_length=2, max_length=2)
    postal_code: str = Field(max_length=20)


class Card(Strict):
    type: Literal["card"]
    card_number_type: Literal["fpan", "network_token"]
    number: str
    exp_month: str | None = Field(default=None, max_length=2)
    exp_year: str | None = Field(default=None, max_length=4)
    name: str | None = None
    cvc: str | None = Field(default=None, max_length=4)
    cryptogram: str | None = None
    eci_value: str | None = Field(default=None, max_length=2)
    checks_performed: list[Literal["avs", "cvv", "ani", "auth0"]] | None = None
    iin: str | None = Field(default=None, max_length=8)
    display_card_funding_type: Literal["credit", "debit", "prepaid"]
    display_wallet_type: str | None = None
    display_brand: str | None = None
    display_last4: str | None = Field(default=None, pattern=r"^[0-9]{4}$")
    metadata: dict[str, str]
    virtual: bool | None = None


class Card20260130(Card):
    iin: str | None = Field(default=None, max_length=6)


class Card2025(Card20260130):
    display_last4: str | None = Field(default=None, max_length=4)


class Allowance(Strict):
    reason: Literal["one_time"]
    max_amount: int
    currency: str = Field(pattern=r"^[a-z]{3}$")
    checkout_session_id: str
    merchant_id: str = Field(max_length=256)
    expires_at: JsonDateTime


class RiskSignal(Strict):
    type: Literal["card_testing"]
    score: int
    action: Literal["blocked", "manual_review", "authorized"]


class DelegatePaymentRequest(Strict):
    payment_method: Card
    allowance: Allowance
    billing_address: Address | None = None
    risk_signals: list[RiskSignal]
    metadata: dict[str, str]


class DelegatePaymentRequest20260130(DelegatePaymentRequest):
    payment_method: Card20260130
    risk_signals: list[RiskSignal] = Field(min_length=1)


class DelegatePaymentRequest2025(DelegatePaymentRequest20260130):
    payment_method: Card2025


class Card20260116(Card2025):
    iin: str | None = Field(default=None, max_length=8)


class DelegatePaymentRequest20260116(DelegatePaymentRequest2025):
    payment_method: Card20260116


MODELS: dict[str, type[DelegatePaymentRequest]] = {
    "2026-04-17": DelegatePaymentRequest,
    "2026-01-30": DelegatePaymentRequest20260130,
    "2026-01-16": DelegatePaymentRequest20260116,
    "2025-12-12": DelegatePaymentRequest2025,  # the same schema as 2025-09-29
    "2025-09-29": DelegatePaymentRequest2025,
}
