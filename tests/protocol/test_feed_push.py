"""Which products the feed publisher pushes (pure): exactly those whose content differs
from the digest recorded for them, in batches that keep their order; and the bodies
it sends are valid against `schema.feed.json`."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agentic_commerce.config.settings import Settings
from agentic_commerce.protocol import feed as wire
from agentic_commerce.protocol import feed_push
from agentic_commerce.supervisor import load_catalog
from tests import acp_schema

STATUSES = st.sampled_from(["in_stock", "limited_stock", "out_of_stock"])


@st.composite
def products(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Products with distinct ids, their content varied where availability lives."""
    ids = draw(st.lists(st.text("abc_", min_size=1, max_size=4), unique=True, max_size=12))
    return [
        {
            "id": product_id,
            "title": draw(st.sampled_from(["Tee", "Mug"])),
            "variants": [
                {"id": f"{product_id}-v", "title": "V", "availability": {"status": draw(STATUSES)}}
            ],
        }
        for product_id in ids
    ]


@given(products(), st.data())
def test_the_changes_are_the_products_whose_digest_differs(
    now: list[dict[str, Any]], data: st.DataObject
) -> None:
    recorded = {p["id"]: feed_push.digest(p) for p in now}
    assert feed_push.changes(now, recorded) == []  # all pushed: nothing to do
    assert [c.product for c in feed_push.changes(now, {})] == now  # none pushed: all, in order
    edited = data.draw(st.sets(st.sampled_from([p["id"] for p in now])) if now else st.just(set()))
    later = [
        {**p, "variants": [{**p["variants"][0], "availability": {"status": "discontinued"}}]}
        if p["id"] in edited
        else p
        for p in now
    ]
    assert [c.id for c in feed_push.changes(later, recorded)] == [
        p["id"] for p in now if p["id"] in edited
    ]


def test_a_digest_ignores_key_order_but_not_content() -> None:
    product = {"id": "tee", "title": "Tee", "variants": []}
    assert feed_push.digest(product) == feed_push.digest(dict(reversed(product.items())))
    assert feed_push.digest(product) != feed_push.digest({**product, "title": "Tee!"})


@given(st.lists(st.integers(), max_size=30), st.integers(min_value=1, max_value=7))
def test_batches_keep_the_order_within_their_size(ids: list[int], size: int) -> None:
    found = [feed_push.Change({"id": str(i)}, str(i)) for i in ids]
    batches = feed_push.batches(found, size)
    assert [c for batch in batches for c in batch] == found
    assert all(1 <= len(batch) <= size for batch in batches)


def test_the_bodies_sent_are_schema_valid() -> None:
    catalog = load_catalog(Settings())
    available = {p.id: 0 for p in catalog}  # out of stock everywhere
    found = feed_push.changes(wire.catalog_products(catalog, available, "https://shop.test"), {})
    body = feed_push.upsert_request(found)
    acp_schema.validate_bundle("2026-04-17", acp_schema.FEED, "UpsertProductsRequest", body)
    for country in (None, "US"):
        create = feed_push.create_request(country)
        acp_schema.validate_bundle("2026-04-17", acp_schema.FEED, "CreateFeedRequest", create)


def test_a_created_feed_id_is_read_from_its_metadata_only() -> None:
    assert feed_push.created_feed_id(b'{"id": "feed_1", "target_country": "US"}') == "feed_1"
    for body in (b"", b"[]", b'{"id": ""}', b'{"id": 7}', b"<html>"):
        assert feed_push.created_feed_id(body) is None


def test_an_upsert_is_accepted_unless_its_answer_says_it_is_not() -> None:
    for body in (b'{"id": "feed_1", "accepted": true}', b"", b"OK"):
        assert feed_push.upsert_accepted(body)
    assert not feed_push.upsert_accepted(b'{"id": "feed_1", "accepted": false}')


def test_a_target_is_a_platform_and_a_market() -> None:
    names = {
        feed_push.target(url, country)
        for url in ("https://a.test/acp", "https://b.test/acp")
        for country in (None, "US", "CA")
    }
    assert len(names) == 6
