"""The catalog file: its JSON checked field by field, unknown fields refused (a typo in
a price or a feed field would otherwise pass silently)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentic_commerce.domain.discounts import USAGE_PREFIX
from agentic_commerce.domain.products import Media, Product, Seller


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Media(_Strict):
    type: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://")
    alt_text: str | None = None


class _Barcode(_Strict):
    type: str = Field(min_length=1)
    value: str = Field(min_length=1)


class _Option(_Strict):
    name: str = Field(min_length=1)
    value: str = Field(min_length=1)


class _Link(_Strict):
    type: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://")


class _Seller(_Strict):
    name: str = Field(min_length=1)
    links: list[_Link] = []


class _Product(_Strict):
    id: str = Field(min_length=1, max_length=128)
    title: str = Field(min_length=1)
    unit_amount: int = Field(ge=0)
    stock: int = Field(ge=0)
    description: str | None = None
    digital: bool = False
    image_url: str | None = Field(default=None, pattern=r"^https?://")
    sku: str | None = None
    category: str | None = None
    group_id: str | None = Field(default=None, min_length=1)
    group_title: str | None = None
    url: str | None = Field(default=None, pattern=r"^https?://")
    media: list[_Media] = []
    barcodes: list[_Barcode] = []
    condition: list[str] = []
    variant_options: list[_Option] = []
    list_price: int | None = Field(default=None, ge=0)


class _Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: str = Field(default="usd", pattern=r"^[A-Za-z]{3}$")
    seller: _Seller | None = None
    products: list[_Product] = Field(min_length=1)
    promotions: list[Any] = []  # read by `discounts.promotions_from_document`


@dataclass(frozen=True, slots=True)
class CatalogFile:
    currency: str
    products: tuple[Product, ...]
    seller: Seller | None


def _product(entry: _Product) -> Product:
    return Product(
        id=entry.id,
        title=entry.title,
        unit_amount=entry.unit_amount,
        stock=entry.stock,
        description=entry.description,
        digital=entry.digital,
        image_url=entry.image_url,
        sku=entry.sku,
        category=entry.category,
        group_id=entry.group_id,
        group_title=entry.group_title,
        url=entry.url,
        media=tuple(Media(m.type, m.url, m.alt_text) for m in entry.media),
        barcodes=tuple((b.type, b.value) for b in entry.barcodes),
        condition=tuple(entry.condition),
        variant_options=tuple((o.name, o.value) for o in entry.variant_options),
        list_price=entry.list_price,
    )


def read(document: Any) -> CatalogFile:
    """The catalog in `document`; raises ValueError naming the first problem."""
    try:
        parsed = _Catalog.model_validate(document)
    except ValidationError as exc:
        problem = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in problem["loc"]) or "catalog"
        raise ValueError(f"catalog {where}: {problem['msg']}") from None
    seen: set[str] = set()
    for entry in parsed.products:
        if entry.id.startswith(USAGE_PREFIX):
            raise ValueError(f"product {entry.id}: ids may not start with {USAGE_PREFIX}")
        if entry.id in seen:
            raise ValueError(f"duplicate product id {entry.id}")
        seen.add(entry.id)
    seller = None
    if parsed.seller is not None:
        links = tuple((link.type, link.url) for link in parsed.seller.links)
        seller = Seller(parsed.seller.name, links)
    products = tuple(_product(entry) for entry in parsed.products)
    return CatalogFile(parsed.currency.lower(), products, seller)
