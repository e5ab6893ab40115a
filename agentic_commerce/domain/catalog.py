"""Products and their prices: the only source of an amount, never the request."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from agentic_commerce.domain.discounts import (
    EXTENSION,
    USAGE_PREFIX,
    Promotion,
    promotions_from_document,
)


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    title: str
    unit_amount: int
    stock: int
    description: str | None = None
    digital: bool = False
    image_url: str | None = None
    sku: str | None = None
    category: str | None = None  # what a promotion may be restricted to


class CatalogError(ValueError):
    """A catalog document that cannot be served (bad type, duplicate id, negative price)."""


@dataclass(frozen=True, slots=True)
class Catalog:
    currency: str
    products: Mapping[str, Product]
    promotions: tuple[Promotion, ...] = ()

    @property
    def extensions(self) -> tuple[str, ...]:
        """The ACP extensions this catalog can serve: discounts need promotions."""
        return (EXTENSION,) if self.promotions else ()

    def with_promotions(self, entries: object) -> Catalog:
        """This catalog with the promotions of a separate file instead of its own."""
        try:
            return replace(self, promotions=promotions_from_document(entries, self.products))
        except ValueError as exc:
            raise CatalogError(str(exc)) from exc

    def stock_levels(self) -> dict[str, int]:
        """Units to seed: each product's stock, and each usage-limited promotion's uses
        (held like stock when a complete begins, sold with the order)."""
        levels = {p.id: p.stock for p in self.products.values()}
        for promotion in self.promotions:
            if promotion.usage_limit is not None:
                levels[promotion.usage_key] = promotion.usage_limit
        return levels

    def get(self, product_id: str) -> Product | None:
        return self.products.get(product_id)

    def __iter__(self) -> Iterator[Product]:
        return iter(self.products.values())

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Catalog:
        """Build from `{"currency": "usd", "products": [{...}, ...], "promotions": [...]}`."""
        currency = doc.get("currency", "usd")
        if not isinstance(currency, str) or len(currency) != 3:
            raise CatalogError("catalog currency must be a 3-letter ISO 4217 code")
        products: dict[str, Product] = {}
        for raw in doc.get("products", []):
            try:
                product = Product(
                    id=str(raw["id"]),
                    title=str(raw["title"]),
                    unit_amount=int(raw["unit_amount"]),
                    stock=int(raw["stock"]),
                    description=raw.get("description"),
                    digital=bool(raw.get("digital", False)),
                    image_url=raw.get("image_url"),
                    sku=raw.get("sku"),
                    category=raw.get("category"),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise CatalogError(f"bad product entry: {exc}") from exc
            if product.unit_amount < 0 or product.stock < 0:
                raise CatalogError(f"product {product.id}: negative price or stock")
            if product.id.startswith(USAGE_PREFIX):
                raise CatalogError(f"product {product.id}: ids may not start with {USAGE_PREFIX}")
            if product.id in products:
                raise CatalogError(f"duplicate product id {product.id}")
            products[product.id] = product
        if not products:
            raise CatalogError("catalog has no products")
        catalog = cls(currency=currency.lower(), products=products)
        return catalog.with_promotions(doc.get("promotions", []))
