"""What a merchant sells, as the catalog file describes it (plain data)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Media:
    type: str  # image, video, model
    url: str
    alt_text: str | None = None


@dataclass(frozen=True, slots=True)
class Product:
    """One sellable item (a checkout line's `id`; a variant in a product feed)."""

    id: str
    title: str
    unit_amount: int
    stock: int
    description: str | None = None
    digital: bool = False
    image_url: str | None = None
    sku: str | None = None
    category: str | None = None  # what a promotion may be restricted to; a feed category
    # For product feeds: items sharing a `group_id` are variants of one feed product.
    group_id: str | None = None
    group_title: str | None = None
    url: str | None = None
    media: tuple[Media, ...] = ()
    barcodes: tuple[tuple[str, str], ...] = ()  # (type, value), e.g. ("GTIN", "000...")
    condition: tuple[str, ...] = ()
    variant_options: tuple[tuple[str, str], ...] = ()  # (name, value), e.g. ("Color", "Red")
    list_price: int | None = None  # the reference price before a markdown

    @property
    def feed_product_id(self) -> str:
        return self.group_id or self.id


@dataclass(frozen=True, slots=True)
class Seller:
    name: str
    links: tuple[tuple[str, str], ...] = ()  # (type, url), e.g. ("refund_policy", "https://...")
