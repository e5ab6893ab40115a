"""Request bodies of API version 2026-04-17: those of 2026-01-30
(`requests_2026_01_30`, where the unchanged models and the documented `quantity`
extension are) plus what 2026-04-17 added: `Address.company`, `order_notes`
(create, update, complete) and `marketing_consents` (complete).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from agentic_commerce.protocol import requests_2026_01_30 as base
from agentic_commerce.protocol.strictness import Strict


class Address(base.Address):
    company: str | None = None


class FulfillmentDetails(base.FulfillmentDetails):
    address: Address | None = None


class FulfillmentGroup(base.FulfillmentGroup):
    fulfillment_details: FulfillmentDetails | None = None


class CreateRequest(base.CreateRequest):
    fulfillment_details: FulfillmentDetails | None = None
    fulfillment_groups: Sequence[FulfillmentGroup] | None = None
    order_notes: str | None = Field(default=None, max_length=5000)


class UpdateRequest(base.UpdateRequest):
    fulfillment_details: FulfillmentDetails | None = None
    fulfillment_groups: Sequence[FulfillmentGroup] | None = None
    order_notes: str | None = Field(default=None, max_length=5000)


class PaymentData(base.PaymentData):
    billing_address: Address | None = None


class MarketingConsent(Strict):
    channel: str
    opted_in: bool


class CompleteRequest(base.CompleteRequest):
    payment_data: PaymentData
    marketing_consents: list[MarketingConsent] | None = None
    order_notes: str | None = Field(default=None, max_length=5000)
