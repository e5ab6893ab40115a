"""Products and their prices: the only source of an amount, never the request."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from agentic_commerce.domain import catalog_file
from agentic_commerce.domain.discounts import EXTENSION, Promotion, promotions_from_document
from agentic_commerce.domain.products import Product as Product  # where catalogs' users look
from agentic_commerce.domain.products import Seller


class CatalogError(ValueError):
    """A catalog document that cannot be served (bad type, duplicate id, negative price)."""


@dataclass(frozen=True, slots=True)
class Catalog:
    currency: str
    products: Mapping[str, Product]
    promotions: tuple[Promotion, ...] = ()
    seller: Seller | None = None  # who sells, as product feeds name it

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
        """Build from `{"currency": "usd", "seller"?: {...}, "products": [{...}, ...],
        "promotions"?: [...]}` (see `catalog_file` for the fields)."""
        try:
            parsed = catalog_file.read(doc)
        except ValueError as exc:
            raise CatalogError(str(exc)) from exc
        products = {p.id: p for p in parsed.products}
        catalog = cls(parsed.currency, products, seller=parsed.seller)
        return catalog.with_promotions(doc.get("promotions", []))
