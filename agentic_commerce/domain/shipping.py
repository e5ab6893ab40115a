"""Fulfillment options: shipping once an address is known, digital delivery always."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from agentic_commerce.domain.model import Address


@dataclass(frozen=True, slots=True)
class ShippingRate:
    id: str
    title: str
    description: str
    carrier: str
    amount: int
    min_days: int
    max_days: int


@dataclass(frozen=True, slots=True)
class FulfillmentOption:
    """A priced option for this session (`tax` already computed by the quote)."""

    id: str
    type: str  # "shipping" | "digital"
    title: str
    description: str
    subtotal: int
    tax: int
    carrier: str | None = None
    earliest_delivery: datetime | None = None
    latest_delivery: datetime | None = None

    @property
    def total(self) -> int:
        return self.subtotal + self.tax


DOMESTIC_RATES: tuple[ShippingRate, ...] = (
    ShippingRate(
        "shipping_standard", "Standard", "Arrives in 5-7 business days", "USPS", 500, 5, 7
    ),
    ShippingRate("shipping_express", "Express", "Arrives in 1-2 business days", "UPS", 1500, 1, 2),
)
INTERNATIONAL_RATES: tuple[ShippingRate, ...] = (
    ShippingRate(
        "shipping_standard", "Standard International", "Arrives in 7-14 days", "DHL", 2500, 7, 14
    ),
    ShippingRate(
        "shipping_express", "Express International", "Arrives in 2-4 days", "DHL", 4500, 2, 4
    ),
)
FREE_STANDARD_SHIPPING_FROM = 10000
DIGITAL_OPTION_ID = "digital_delivery"


def shipping_rates(address: Address) -> tuple[ShippingRate, ...]:
    return DOMESTIC_RATES if address.country.upper() == "US" else INTERNATIONAL_RATES


def shipping_price(rate: ShippingRate, goods_subtotal: int, domestic: bool) -> int:
    """Domestic standard shipping is free from a goods subtotal of $100."""
    if (
        domestic
        and rate.id == "shipping_standard"
        and goods_subtotal >= FREE_STANDARD_SHIPPING_FROM
    ):
        return 0
    return rate.amount


def delivery_window(rate: ShippingRate, now: datetime) -> tuple[datetime, datetime]:
    return now + timedelta(days=rate.min_days), now + timedelta(days=rate.max_days)
