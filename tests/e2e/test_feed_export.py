"""`agentic-commerce-server feed export DIR`, run as a user runs it: every line of
`products.jsonl` is a schema-valid `Product`, the counts match the catalog, and on
Redis the availability is the live one (units held by an open checkout count)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from agentic_commerce.config.settings import Settings
from agentic_commerce.store.redis import RedisStore
from agentic_commerce.supervisor import load_catalog
from tests import acp_schema
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow


def export(directory: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentic_commerce", "feed", "export", str(directory), *args],
        env={**os.environ, "LOG_LEVEL": "warning", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def read(directory: Path) -> tuple[dict[str, object], list[dict[str, object]]]:
    metadata = json.loads((directory / "metadata.json").read_text())
    acp_schema.validate_bundle("2026-04-17", acp_schema.FEED, "FeedMetadata", metadata)
    products = [
        json.loads(line) for line in (directory / "products.jsonl").read_text().splitlines()
    ]
    for product in products:
        acp_schema.validate_bundle("2026-04-17", acp_schema.FEED, "Product", product)
    return metadata, products


def availability(products: list[dict[str, object]]) -> dict[str, object]:
    return {
        variant["id"]: variant["availability"]["status"]  # type: ignore[index]
        for product in products
        for variant in product["variants"]  # type: ignore[attr-defined]
    }


def test_export_round_trip(tmp_path: Path) -> None:
    done = export(tmp_path, "--target-country", "US", "--feed-id", "feed_demo")
    assert done.returncode == 0, done.stderr
    metadata, products = read(tmp_path)
    assert metadata["id"] == "feed_demo" and metadata["target_country"] == "US"
    catalog = load_catalog(Settings())
    assert len(products) == len(catalog.products)
    assert set(availability(products)) == set(catalog.products)
    assert not list(tmp_path.glob(".*partial"))  # written whole, then renamed
    refused = export(tmp_path, "--target-country", "usa")
    assert refused.returncode == 2 and "ISO 3166-1" in refused.stderr


def test_export_reads_live_stock_on_redis(tmp_path: Path, own_redis: RedisServer) -> None:
    async def hold_every_cable() -> None:
        store = RedisStore(own_redis.url)
        try:
            await store.seed_stock(load_catalog(Settings()).stock_levels())
            assert await store.hold("cs_open", {"usb_c_cable": 3}) == ()
        finally:
            await store.close()

    trio.run(hold_every_cable)
    done = export(tmp_path, REDIS_URL=own_redis.url)
    assert done.returncode == 0, done.stderr
    _, products = read(tmp_path)
    assert availability(products)["usb_c_cable"] == "out_of_stock"
    assert availability(products)["item_123"] == "in_stock"
