"""`agentic-commerce-server feed export DIR`: the catalog as feed files for an agent
platform's file ingestion (Feed API of 2026-04-17): `metadata.json` (`FeedMetadata`)
and `products.jsonl` (one `Product` a line), a full replacement of the feed.

Availability is read from the store the server uses (live stock on Redis); without
Redis, from the catalog's stock levels (the memory store lives in the server)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import orjson
import trio

from agentic_commerce.actors.clock import SystemClock
from agentic_commerce.config.settings import Settings, SettingsError
from agentic_commerce.domain.catalog import Catalog, CatalogError
from agentic_commerce.domain.feed import Feed
from agentic_commerce.protocol import feed as wire
from agentic_commerce.protocol.base import JSON
from agentic_commerce.store.base import Store, StoreError, available_units
from agentic_commerce.store.memory import MemoryStore
from agentic_commerce.supervisor import build_store, load_catalog


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="agentic-commerce-server feed export",
        description="Write the catalog as metadata.json and products.jsonl.",
    )
    parser.add_argument("directory", type=Path, help="where to write the two files")
    parser.add_argument("--feed-id", help="the feed's id (default: the merchant's id)")
    parser.add_argument("--target-country", help="ISO 3166-1 alpha-2 market, e.g. US")
    return parser.parse_args(argv)


async def products_now(settings: Settings, catalog: Catalog) -> list[JSON]:
    """The catalog's feed products, with the availability the store knows now."""
    store: Store = build_store(settings) if settings.uses_redis else MemoryStore()
    try:
        await store.seed_stock(catalog.stock_levels())  # only what the store lacks
        available = await available_units(store, catalog.products)
    finally:
        await store.close()
    return wire.catalog_products(catalog, available, settings.shop_url)


def write(directory: Path, feed: Feed, products: list[JSON]) -> None:
    """Each file to a temporary name first, then renamed: a reader never sees half a feed."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = b"".join(orjson.dumps(product) + b"\n" for product in products)
    for name, data in (
        ("products.jsonl", lines),
        ("metadata.json", orjson.dumps(wire.metadata(feed), option=orjson.OPT_INDENT_2)),
    ):
        partial = directory / f".{name}.partial"
        partial.write_bytes(data)
        os.replace(partial, directory / name)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        settings = Settings.from_env()
        country = args.target_country
        if country is not None and not wire.valid_country(country):
            raise SettingsError("--target-country must be an ISO 3166-1 alpha-2 code, e.g. US")
        merchant = next(iter(settings.api_keys.values()))
        feed = Feed(args.feed_id or merchant, merchant, country, SystemClock().now())
        catalog = load_catalog(settings)
        products = trio.run(products_now, settings, catalog)
        write(args.directory, feed, products)
    except (SettingsError, CatalogError, StoreError, OSError) as exc:
        print(f"agentic-commerce-server feed export: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(products)} products to {args.directory / 'products.jsonl'}")
    return 0
