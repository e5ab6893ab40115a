"""Request bodies of API version 2025-12-12: those of 2025-09-29
(`requests_2025_09_29`) with what 2025-12-12 changed.

- `Item.quantity` is an integer >= 1;
- `fulfillment_details` replaces `fulfillment_address`, and the nested
  `selected_fulfillment_options[{type, shipping|digital: {option_id, item_ids}}]`
  replaces `fulfillment_option_id`;
- create and complete accept `affiliate_attribution` (write-only, read leniently);
  complete accepts the agent's 3-D Secure `authentication_result`; cancel an
  optional `intent_trace`.

The objects later versions kept unchanged (fulfillment details, attribution,
authentication result, cancel body) are those of `requests_2026_01_30`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agentic_commerce.protocol import requests_2025_09_29 as before
from agentic_commerce.protocol.requests_2025_09_29 import Buyer
from agentic_commerce.protocol.requests_2026_01_30 import (
    AffiliateAttribution,
    AuthenticationResult,
    FulfillmentDetails,
)
from agentic_commerce.protocol.strictness import MAX_QUANTITY, Strict


class Item(Strict):
    id: str
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class SelectedOption(Strict):
    option_id: str
    item_ids: list[str]


class SelectedFulfillmentOption(Strict):
    """The schema's `oneOf` (the member named by `type` is required) is checked by
    the codec, which reports the missing member's path."""

    type: Literal["shipping", "digital"]
    shipping: SelectedOption | None = None
    digital: SelectedOption | None = None


class CreateRequest(Strict):
    items: list[Item] = Field(min_length=1)
    buyer: Buyer | None = None
    fulfillment_details: FulfillmentDetails | None = None
    affiliate_attribution: AffiliateAttribution | None = None


class UpdateRequest(Strict):
    items: list[Item] | None = None
    buyer: Buyer | None = None
    fulfillment_details: FulfillmentDetails | None = None
    selected_fulfillment_options: list[SelectedFulfillmentOption] | None = None


class CompleteRequest(before.CompleteRequest):
    authentication_result: AuthenticationResult | None = None
    affiliate_attribution: AffiliateAttribution | None = None
