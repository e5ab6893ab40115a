"""The Feed API on each store: a feed is the catalog as one market sees it, with
availability from live stock. Every body is validated against `schema.feed.json`;
the spec's feed examples are replayed."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config.settings import Settings
from agentic_commerce.http.app import create_app
from tests import acp_schema
from tests.http.conftest import DEMO_KEY, NEWEST, AcpClient, Reply, address_update

CATALOG = {
    "currency": "usd",
    "seller": {
        "name": "Demo Shop",
        "links": [{"type": "refund_policy", "url": "https://shop.example.com/legal/returns"}],
    },
    "products": [
        {
            "id": "tee_red_s",
            "title": "Classic Tee - Red / Small",
            "unit_amount": 1999,
            "stock": 40,
            "group_id": "classic_tee",
            "group_title": "Classic Tee",
            "description": "A classic cotton tee.",
            "url": "https://shop.example.com/products/classic-tee",
            "media": [
                {"type": "image", "url": "https://cdn.example.com/tee.jpg", "alt_text": "Tee"}
            ],
            "barcodes": [{"type": "GTIN", "value": "00012345600012"}],
            "variant_options": [{"name": "Color", "value": "Red"}, {"name": "Size", "value": "S"}],
            "condition": ["new"],
            "category": "Apparel > Shirts",
            "list_price": 2499,
        },
        {
            "id": "tee_red_m",
            "title": "Classic Tee - Red / Medium",
            "unit_amount": 1999,
            "stock": 0,
            "group_id": "classic_tee",
            "variant_options": [{"name": "Color", "value": "Red"}, {"name": "Size", "value": "M"}],
        },
        {
            "id": "mug",
            "title": "Mug",
            "unit_amount": 1200,
            "stock": 3,
            "sku": "MUG-1",
            "image_url": "https://cdn.example.com/mug.jpg",
        },
        {"id": "guide", "title": "Guide (e-book)", "unit_amount": 900, "stock": 0, "digital": True},
    ],
}


OTHER_KEY = "api_key_other_merchant_0001"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    path = tmp_path / "catalog.json"
    path.write_bytes(orjson.dumps(CATALOG))
    keys = {DEMO_KEY: "merchant_demo", OTHER_KEY: "merchant_other"}
    return Settings(catalog_file=path, shop_url="https://shop.example.com", api_keys=keys)


class FeedClient:
    """Feed API calls; every body is checked against the feed bundle's schema."""

    def __init__(self, client: Any, version: str = NEWEST, key: str = DEMO_KEY) -> None:
        self.client, self.version, self.key = client, version, key

    async def send(
        self, method: str, path: str, body: Any = None, *, key: str | None = None, check: str = ""
    ) -> Reply:
        headers = {"Authorization": f"Bearer {self.key}", "API-Version": self.version}
        if method == "POST":
            headers["Idempotency-Key"] = key or f"idem_{uuid.uuid4().hex}"
        data = orjson.dumps(body) if body is not None else b""
        if data:
            headers["Content-Type"] = "application/json"
        response = await self.client.open(path, method=method, data=data, headers=headers)
        reply = Reply(
            response.status_code, orjson.loads(await response.get_data()), response.headers
        )
        definition = check if 200 <= reply.status < 300 else "Error"
        if definition and self.version == NEWEST:
            acp_schema.validate_bundle(NEWEST, acp_schema.FEED, definition, reply.body)
        return reply

    async def create(self, body: Any = None, **kw: Any) -> Reply:
        return await self.send("POST", "/feeds", body or {}, check="FeedMetadata", **kw)

    async def products(self, feed_id: str) -> Reply:
        return await self.send("GET", f"/feeds/{feed_id}/products", check="ProductsResponse")


@pytest.fixture
async def feeds(system: ActorSystem) -> AsyncIterator[FeedClient]:
    app = create_app(system)
    async with app.test_app() as test_app:
        yield FeedClient(test_app.test_client())


def examples() -> dict[str, Any]:
    path = acp_schema.spec_dir() / NEWEST / "examples" / "examples.feed.json"
    return dict(json.loads(path.read_text()))


def variants(reply: Reply) -> dict[str, dict[str, Any]]:
    return {v["id"]: v for p in reply.body["products"] for v in p["variants"]}


async def test_create_get_and_list_the_catalog(feeds: FeedClient) -> None:
    created = await feeds.create({"target_country": "US"}, key="feed-key-1")
    assert created.status == 201 and created.body["target_country"] == "US"
    feed_id = created.body["id"]
    again = await feeds.create({"target_country": "US"}, key="feed-key-1")
    assert again.body == created.body and again.headers["Idempotent-Replayed"] == "true"
    got = await feeds.send("GET", f"/feeds/{feed_id}", check="FeedMetadata")
    assert got.body == created.body

    listed = await feeds.products(feed_id)
    assert [p["id"] for p in listed.body["products"]] == ["classic_tee", "mug", "guide"]
    tee = listed.body["products"][0]
    assert tee["title"] == "Classic Tee" and tee["url"].endswith("/classic-tee")
    assert [v["id"] for v in tee["variants"]] == ["tee_red_s", "tee_red_m"]
    small = tee["variants"][0]
    assert small["price"] == {"amount": 1999, "currency": "USD"}
    assert small["list_price"] == {"amount": 2499, "currency": "USD"}
    assert small["barcodes"] == [{"type": "GTIN", "value": "00012345600012"}]
    assert small["categories"] == [{"value": "Apparel > Shirts", "taxonomy": "merchant"}]
    assert small["seller"]["name"] == "Demo Shop"
    found = variants(listed)
    assert found["tee_red_s"]["availability"] == {"available": True, "status": "in_stock"}
    assert found["tee_red_m"]["availability"] == {"available": False, "status": "out_of_stock"}
    assert found["mug"]["availability"] == {"available": True, "status": "limited_stock"}
    assert found["guide"]["availability"]["available"] is True  # digital: never short
    assert found["mug"]["media"] == [{"type": "image", "url": "https://cdn.example.com/mug.jpg"}]
    assert found["mug"]["url"] == "https://shop.example.com/products/mug"
    assert len(found) == len(CATALOG["products"])


async def test_availability_follows_the_holds_of_open_checkouts(
    feeds: FeedClient, system: ActorSystem
) -> None:
    feed_id = (await feeds.create()).body["id"]
    acp = AcpClient(feeds.client)
    body = {
        "currency": "usd",
        "line_items": [{"id": "mug", "quantity": 3}],
        "capabilities": {},
        **address_update(NEWEST),
    }
    session = await acp.create(body)
    assert session.status == 201
    held = variants(await feeds.products(feed_id))["mug"]["availability"]
    assert held == {"available": False, "status": "out_of_stock"}
    await acp.cancel(session.body["id"])
    back = variants(await feeds.products(feed_id))["mug"]["availability"]
    assert back == {"available": True, "status": "limited_stock"}


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"target_country": "us"}, "invalid_target_country", "$.target_country"),
        ({"target_country": "XX"}, "invalid_target_country", "$.target_country"),
        ({"country": "US"}, "unknown_field", "$.country"),
    ],
)
async def test_a_bad_create_is_refused(
    feeds: FeedClient, body: dict[str, Any], code: str, param: str
) -> None:
    reply = await feeds.create(body)
    assert reply.status == 400 and (reply.body["code"], reply.body["param"]) == (code, param)


async def test_unknown_feeds_and_other_merchants_feeds_are_not_found(
    feeds: FeedClient, system: ActorSystem
) -> None:
    for path in ("/feeds/feed_nope", "/feeds/feed_nope/products", "/feeds/cs_1"):
        reply = await feeds.send("GET", path)
        assert reply.status == 404 and reply.body["code"] == "feed_not_found"
    old = FeedClient(feeds.client, version="2026-01-30")
    assert (await old.send("POST", "/feeds", {})).status == 404  # no Feed API before 2026-04-17
    anonymous = FeedClient(feeds.client, key="wrong")
    assert (await anonymous.create()).status == 401
    mine = (await feeds.create()).body["id"]
    other = FeedClient(feeds.client, key=OTHER_KEY)
    for path in (f"/feeds/{mine}", f"/feeds/{mine}/products"):
        reply = await other.send("GET", path)
        assert reply.status == 404 and reply.body["code"] == "feed_not_found"


async def test_the_catalog_is_the_source_of_truth(feeds: FeedClient) -> None:
    feed_id = (await feeds.create()).body["id"]
    upsert = examples()["upsert_products_request_single_product"]
    reply = await feeds.send("PATCH", f"/feeds/{feed_id}/products", upsert)
    assert reply.status == 405 and reply.body["code"] == "method_not_allowed"
    assert "catalog" in reply.body["message"]


async def test_the_spec_examples(feeds: FeedClient) -> None:
    """`create_feed_request_minimal` creates a feed shaped as `create_feed_response`;
    `get_products_response` has the shape our products have; the upsert example is
    refused (above); the two error examples are our codes for those cases."""
    spec = examples()
    created = await feeds.create(spec["create_feed_request_minimal"])
    assert created.body.keys() == spec["create_feed_response"].keys()
    listed = await feeds.products(created.body["id"])
    assert set(spec["get_products_response"]["products"][0]) <= set(listed.body["products"][0])
    missing = await feeds.send("GET", "/feeds/feed_nope")
    assert missing.body["code"] == spec["feed_error_not_found"]["code"]
