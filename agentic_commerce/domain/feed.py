"""The catalog as a product feed (Feed API of 2026-04-17), pure: what an agent may sell.

Rules:
1. Every catalog item is a variant; items sharing a `group_id` are the variants of
   one feed product (in catalog order), any other item is a product of its own.
2. A product's title is its `group_title`, else its first variant's title; its
   media is its first variant's.
3. A variant's availability comes from live stock, by `AVAILABILITY` below: the
   first row whose bound the units available now (on hand less held) are at or
   below gives it. Digital goods are always in stock.
4. A feed is one market (`target_country`); prices are the merchant's, in its
   currency (the catalog has one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from agentic_commerce.domain.products import Product


@dataclass(frozen=True, slots=True)
class Feed:
    """A feed a merchant created (`POST /feeds`): one market's view of the catalog."""

    id: str
    merchant_id: str
    target_country: str | None  # None: no market named
    created_at: datetime


LIMITED_STOCK = 5  # units available at or below which a variant is `limited_stock`


@dataclass(frozen=True, slots=True)
class Availability:
    available: bool
    status: str  # in_stock | limited_stock | out_of_stock (the schema's known values)


# (at most this many units available, availability); the first row that holds applies.
AVAILABILITY: tuple[tuple[float, Availability], ...] = (
    (0, Availability(False, "out_of_stock")),
    (LIMITED_STOCK, Availability(True, "limited_stock")),
    (float("inf"), Availability(True, "in_stock")),
)
ALWAYS = Availability(True, "in_stock")


def availability(product: Product, available_units: int) -> Availability:
    if product.digital:
        return ALWAYS
    return next(a for bound, a in AVAILABILITY if available_units <= bound)


@dataclass(frozen=True, slots=True)
class Variant:
    item: Product
    availability: Availability


@dataclass(frozen=True, slots=True)
class FeedProduct:
    id: str
    title: str
    variants: tuple[Variant, ...]


def products(items: Iterable[Product], available: Mapping[str, int]) -> tuple[FeedProduct, ...]:
    """The feed's products from the catalog's items and the units available per item."""
    groups: dict[str, list[Product]] = {}
    for item in items:
        groups.setdefault(item.feed_product_id, []).append(item)
    return tuple(
        FeedProduct(
            id=group_id,
            title=next((i.group_title for i in members if i.group_title), members[0].title),
            variants=tuple(Variant(i, availability(i, available.get(i.id, 0))) for i in members),
        )
        for group_id, members in groups.items()
    )
