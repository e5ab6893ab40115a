"""Request bodies of API version 2026-01-30, as pydantic models mirroring its JSON Schema.

Unknown fields are refused (`extra="forbid"`), types are strict. One documented
extension: request items accept an optional integer `quantity` (default 1),
because the version's `Item` has no quantity at all (upstream issue #264).
Write-only objects the server accepts but does not act on (affiliate
attribution, risk signals, fulfillment groups) are still checked for shape.

2026-04-17 (`requests_2026_04_17`) is this version plus what it added: these
models are its bases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from agentic_commerce.domain.discounts import MAX_CODE_LENGTH, MAX_CODES
from agentic_commerce.protocol.requests_2025_09_29 import Address as Address  # unchanged
from agentic_commerce.protocol.strictness import MAX_QUANTITY, JsonDateTime, Open, Strict


class CompanyInfo(Strict):
    name: str
    tax_id: str | None = None
    department: str | None = None
    cost_center: str | None = None


class LoyaltyInfo(Strict):
    tier: str | None = None
    points_balance: int | None = None
    member_since: JsonDateTime | None = None


class TaxExemption(Strict):
    certificate_id: str
    certificate_type: Literal["resale", "exempt_organization", "government"]
    exempt_regions: list[str] | None = None
    expires_at: JsonDateTime | None = None


class Buyer(Strict):
    email: str
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    phone_number: str | None = None
    customer_id: str | None = None
    account_type: Literal["guest", "registered", "business"] | None = None
    authentication_status: Literal["authenticated", "guest", "requires_signin"] | None = None
    company: CompanyInfo | None = None
    loyalty: LoyaltyInfo | None = None
    tax_exemption: TaxExemption | None = None


class FulfillmentDetails(Strict):
    name: str | None = None
    phone_number: str | None = None
    email: str | None = None
    address: Address | None = None


class Item(Strict):
    id: str
    name: str | None = None
    unit_amount: int | None = None
    quantity: int = Field(default=1, ge=1, le=MAX_QUANTITY)  # extension, see docstring


class InterventionCapabilities(Open):
    supported: list[str] | None = None


class Capabilities(Open):
    interventions: InterventionCapabilities | None = None
    extensions: list[Any] | None = None


class FulfillmentGroup(Strict):
    id: str
    item_ids: list[str]
    destination_type: Literal["shipping", "pickup", "local_delivery", "digital"]
    fulfillment_details: FulfillmentDetails | None = None
    location_id: str | None = None
    instructions: str | None = None


class SelectedFulfillmentOption(Strict):
    type: Literal["shipping", "digital", "pickup", "local_delivery"]
    option_id: str
    item_ids: list[str]


# A code is echoed in messages: printable, without markup-prone characters, short.
DiscountCode = Annotated[
    str, Field(min_length=1, max_length=MAX_CODE_LENGTH, pattern=r"^[A-Za-z0-9_\-\.]+$")
]
DiscountCodes = Annotated[list[DiscountCode], Field(max_length=MAX_CODES)]


class DiscountsRequest(Strict):
    codes: DiscountCodes | None = None


class AttributionSource(Open):
    type: Literal["url", "platform", "unknown"]
    url: str | None = None


class AffiliateAttribution(Open):
    """Accepted and never returned; open, but it names a token or a publisher. Its
    fields are kept with the order for the merchant (the token is a secret)."""

    provider: str
    token: str | None = None
    publisher_id: str | None = None
    campaign_id: str | None = None
    creative_id: str | None = None
    sub_id: str | None = None
    source: AttributionSource | None = None
    issued_at: JsonDateTime | None = None
    expires_at: JsonDateTime | None = None
    metadata: dict[str, str | int | float | bool] | None = None
    touchpoint: Literal["first", "last"] | None = None

    @model_validator(mode="after")
    def _token_or_publisher(self) -> AffiliateAttribution:
        if self.token is None and self.publisher_id is None:
            raise ValueError("an attribution needs a token or a publisher_id")
        return self


# `fulfillment_groups` are Sequences (read from JSON arrays as lists) so that
# 2026-04-17 can narrow their item type (a list is invariant).
class CreateRequest(Strict):
    line_items: list[Item] = Field(min_length=1)
    currency: str
    capabilities: Capabilities
    buyer: Buyer | None = None
    fulfillment_details: FulfillmentDetails | None = None
    fulfillment_groups: Sequence[FulfillmentGroup] | None = None
    affiliate_attribution: AffiliateAttribution | None = None
    coupons: DiscountCodes | None = None  # deprecated alias of discounts.codes
    discounts: DiscountsRequest | None = None
    locale: str | None = None
    timezone: str | None = None
    quote_id: str | None = None
    metadata: dict[str, Any] | None = None


class UpdateRequest(Strict):
    buyer: Buyer | None = None
    line_items: list[Item] | None = None
    fulfillment_details: FulfillmentDetails | None = None
    fulfillment_groups: Sequence[FulfillmentGroup] | None = None
    selected_fulfillment_options: list[SelectedFulfillmentOption] | None = None
    coupons: DiscountCodes | None = None  # deprecated alias of discounts.codes
    discounts: DiscountsRequest | None = None


class Credential(Strict):
    type: str
    token: str


class Instrument(Strict):
    type: str
    credential: Credential


class PaymentData(Strict):
    handler_id: str | None = None
    instrument: Instrument | None = None
    billing_address: Address | None = None
    purchase_order_number: str | None = None
    payment_terms: Literal["immediate", "net_15", "net_30", "net_60", "net_90"] | None = None
    due_date: JsonDateTime | None = None
    approval_required: bool | None = None


class OutcomeDetails(Strict):
    three_ds_cryptogram: str
    electronic_commerce_indicator: Literal["01", "02", "05", "06", "07"]
    transaction_id: str
    version: str


class AuthenticationResult(Strict):
    outcome: Literal[
        "abandoned",
        "attempt_acknowledged",
        "authenticated",
        "canceled",
        "denied",
        "informational",
        "internal_error",
        "not_supported",
        "processing_error",
        "rejected",
    ]
    outcome_details: OutcomeDetails | None = None


class RiskSignals(Strict):
    ip_address: str | None = None
    user_agent: str | None = None
    accept_language: str | None = None
    session_id: str | None = None
    device_fingerprint: str | None = None


class CompleteRequest(Strict):
    payment_data: PaymentData
    buyer: Buyer | None = None
    authentication_result: AuthenticationResult | None = None
    affiliate_attribution: AffiliateAttribution | None = None
    risk_signals: RiskSignals | None = None


class IntentTrace(Open):
    """Open in every version's schema (no additionalProperties): unknown fields are
    ignored, as the spec asks of servers."""

    reason_code: str  # lenient: unknown codes are read as "other"
    trace_summary: str | None = Field(default=None, max_length=500)
    metadata: dict[str, str | int | float | bool] | None = None


class CancelRequest(Open):
    intent_trace: IntentTrace | None = None
