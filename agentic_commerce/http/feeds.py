"""The Feed API (`/feeds`, 2026-04-17): the merchant's catalog served as product feeds.

Same gate as checkout (API key, rate limit, version, body, signature) and the same
idempotency for the create. A feed is one market's view of the catalog, with
availability read from live stock on every request; the catalog is the source of
truth, so product upserts (`PATCH /feeds/{id}/products`) are refused with 405.
A version without feeds (before 2026-04-17) answers 404, as for any route it does
not define."""

from __future__ import annotations

import secrets

import orjson
from quart import Quart, Response

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.domain import feed
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.http.context import Caller, Gate
from agentic_commerce.http.errors import absent_in_version
from agentic_commerce.http.responses import JSON_TYPE
from agentic_commerce.protocol import feed as wire
from agentic_commerce.protocol.base import Body
from agentic_commerce.store.base import Answer, available_units


def feed_not_found() -> RequestRejected:
    return RequestRejected("feed_not_found", "Feed not found.", "id", status=404)


def register_feeds(app: Quart, system: ActorSystem, gate: Gate) -> None:
    store, catalog = system.store, system.catalog
    shop_url = system.settings.shop_url

    async def enter() -> tuple[Caller, Body]:
        who, body = await gate.enter()
        if who.codec.version != wire.VERSION:
            raise absent_in_version("Feed API")
        return who, body

    async def owned(feed_id: str, who: Caller) -> feed.Feed:
        """The caller's feed (another merchant's does not exist for it)."""
        found = await store.load_feed(feed_id) if wire.FEED_ID.match(feed_id) else None
        if found is None or found.merchant_id != who.merchant_id:
            raise feed_not_found()
        return found

    @app.post("/feeds")
    async def create_feed() -> Response:
        who, body = await enter()

        async def call(answer: Answer | None) -> bytes:
            country = wire.parse_create(body)
            created = feed.Feed(
                f"feed_{secrets.token_hex(12)}", who.merchant_id, country, system.clock.now()
            )
            response = orjson.dumps(wire.metadata(created))
            await store.put_feed(created, answer.record(response) if answer else None)
            return response

        return await gate.post(who, body, f"feed-{who.merchant_id}", 201, bytes, call)

    @app.get("/feeds/<feed_id>")
    async def get_feed(feed_id: str) -> Response:
        who, _ = await enter()
        found = await owned(feed_id, who)
        return Response(orjson.dumps(wire.metadata(found)), 200, content_type=JSON_TYPE)

    @app.get("/feeds/<feed_id>/products")
    async def get_feed_products(feed_id: str) -> Response:
        who, _ = await enter()
        await owned(feed_id, who)
        available = await available_units(store, catalog.products)
        products = wire.catalog_products(catalog, available, shop_url)
        return Response(orjson.dumps({"products": products}), 200, content_type=JSON_TYPE)

    @app.patch("/feeds/<feed_id>/products")
    async def upsert_feed_products(feed_id: str) -> Response:
        who, _ = await enter()
        await owned(feed_id, who)
        raise RequestRejected(
            "method_not_allowed",
            "This server's feeds are views of its catalog, which is the source of truth: "
            "change the catalog file, and the feed follows.",
            None,
            status=405,
        )
