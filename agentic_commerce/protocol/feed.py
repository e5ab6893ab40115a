"""The Feed API's bodies (`schema.feed.json`, 2026-04-17): feed products, feed metadata
and the create request. The same JSON is served (`GET /feeds/{id}/products`), pushed
to an agent platform (`PATCH {base}/feeds/{id}/products`) and exported (one product a
line of `products.jsonl`)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from agentic_commerce.domain import feed, validation
from agentic_commerce.domain.catalog import Catalog
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.feed import Feed, FeedProduct, Variant
from agentic_commerce.domain.products import Product
from agentic_commerce.protocol.base import JSON, Body, parse, timestamp
from agentic_commerce.protocol.strictness import Strict

VERSION = "2026-04-17"  # the first (and only) version with the Feed API
FEED_ID = re.compile(r"^feed_[A-Za-z0-9]{1,64}$")


class CreateFeedRequest(Strict):
    target_country: str | None = None


def valid_country(code: str) -> bool:
    """An ISO 3166-1 alpha-2 code in upper case, as `target_country` must be."""
    return code.isupper() and validation.is_country(code)


def parse_create(sent: Body) -> str | None:
    """The feed's market: `target_country`, if any."""
    body = parse(CreateFeedRequest, sent)
    country = body.target_country
    if country is not None and not valid_country(country):
        raise RequestRejected(
            "invalid_target_country",
            "target_country must be an ISO 3166-1 alpha-2 code in upper case.",
            "$.target_country",
        )
    return country


def metadata(feed: Feed) -> JSON:
    """`FeedMetadata`: a feed's metadata never changes after its creation."""
    body: JSON = {"id": feed.id}
    if feed.target_country is not None:
        body["target_country"] = feed.target_country
    body["updated_at"] = timestamp(feed.created_at)
    return body


def _media(item: Product) -> list[JSON]:
    """An item's media, or its catalog `image_url` as the one image."""
    if not item.media:
        return [{"type": "image", "url": item.image_url}] if item.image_url else []
    shown = []
    for media in item.media:
        body: JSON = {"type": media.type, "url": media.url}
        if media.alt_text:
            body["alt_text"] = media.alt_text
        shown.append(body)
    return shown


def _variant(variant: Variant, catalog: Catalog, page_url: str) -> JSON:
    item = variant.item
    currency = catalog.currency.upper()
    body: JSON = {"id": item.id, "title": item.title}
    if item.description:
        body["description"] = {"plain": item.description}
    body["url"] = item.url or page_url
    if item.barcodes:
        body["barcodes"] = [{"type": kind, "value": value} for kind, value in item.barcodes]
    body["price"] = {"amount": item.unit_amount, "currency": currency}
    if item.list_price is not None:
        body["list_price"] = {"amount": item.list_price, "currency": currency}
    body["availability"] = {
        "available": variant.availability.available,
        "status": variant.availability.status,
    }
    if item.category:
        body["categories"] = [{"value": item.category, "taxonomy": "merchant"}]
    if item.condition:
        body["condition"] = list(item.condition)
    if item.variant_options:
        body["variant_options"] = [{"name": n, "value": v} for n, v in item.variant_options]
    if media := _media(item):
        body["media"] = media
    if catalog.seller is not None:
        seller: JSON = {"name": catalog.seller.name}
        if catalog.seller.links:
            seller["links"] = [{"type": t, "url": u} for t, u in catalog.seller.links]
        body["seller"] = seller
    return body


def catalog_products(catalog: Catalog, available: Mapping[str, int], shop_url: str) -> list[JSON]:
    """Every product of the catalog as a feed `Product`, given the units available now."""
    return [product(p, catalog, shop_url) for p in feed.products(catalog, available)]


def product(feed_product: FeedProduct, catalog: Catalog, shop_url: str) -> JSON:
    """A feed `Product`: its page is the first variant's `url`, else the shop's
    `/products/{id}`."""
    first = feed_product.variants[0].item
    page_url = first.url or f"{shop_url}/products/{feed_product.id}"
    body: JSON = {"id": feed_product.id, "title": feed_product.title, "url": page_url}
    if media := _media(first):
        body["media"] = media
    body["variants"] = [_variant(v, catalog, page_url) for v in feed_product.variants]
    return body
