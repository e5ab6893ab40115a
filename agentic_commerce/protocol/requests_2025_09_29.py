"""Request bodies of API version 2025-09-29, as pydantic models mirroring its JSON Schema.

Unknown fields are refused (`extra="forbid"`), types are strict (no "1" for 1).
`Item.quantity` follows the current text of this version: any number > 0.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agentic_commerce.protocol.strictness import MAX_QUANTITY, JsonDecimal, Strict


class Address(Strict):
    name: str
    line_one: str
    line_two: str | None = None
    city: str
    state: str
    country: str
    postal_code: str


class Buyer(Strict):
    first_name: str
    last_name: str
    email: str
    phone_number: str | None = None


class Item(Strict):
    id: str
    quantity: JsonDecimal = Field(gt=0, le=MAX_QUANTITY, allow_inf_nan=False)


class PaymentData(Strict):
    token: str
    provider: Literal["stripe"]
    billing_address: Address | None = None


class CreateRequest(Strict):
    items: list[Item] = Field(min_length=1)
    buyer: Buyer | None = None
    fulfillment_address: Address | None = None


class UpdateRequest(Strict):
    items: list[Item] | None = None
    buyer: Buyer | None = None
    fulfillment_address: Address | None = None
    fulfillment_option_id: str | None = None


class CompleteRequest(Strict):
    payment_data: PaymentData
    buyer: Buyer | None = None
