"""The catalog file's checks, and the catalog as feed products (grouping, availability)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentic_commerce.domain import feed
from agentic_commerce.domain.catalog import Catalog, CatalogError
from agentic_commerce.protocol import feed as wire
from tests import acp_schema

ITEM = {"id": "a", "title": "A", "unit_amount": 100, "stock": 5}


def catalog(*products: dict[str, Any], **top: Any) -> Catalog:
    return Catalog.from_document({"currency": "usd", "products": list(products), **top})


@pytest.mark.parametrize(
    ("products", "top", "problem"),
    [
        ([{**ITEM, "unit_amount": -1}], {}, "unit_amount"),
        ([{**ITEM, "stock": "many"}], {}, "stock"),
        ([{**ITEM, "colour": "red"}], {}, "colour"),
        ([ITEM, ITEM], {}, "duplicate product id a"),
        ([{**ITEM, "id": "promotion:x"}], {}, "may not start with"),
        ([{**ITEM, "url": "ftp://x"}], {}, "url"),
        ([], {}, "products"),
        ([ITEM], {"currency": "dollars"}, "currency"),
    ],
)
def test_a_bad_catalog_stops_the_server_naming_the_problem(
    products: list[dict[str, Any]], top: dict[str, Any], problem: str
) -> None:
    with pytest.raises(CatalogError, match=problem):
        catalog(*products, **top)


def test_items_sharing_a_group_are_one_product() -> None:
    items = catalog(
        {**ITEM, "id": "s", "group_id": "tee", "title": "Tee S"},
        {**ITEM, "id": "solo"},
        {**ITEM, "id": "m", "group_id": "tee", "title": "Tee M", "group_title": "Tee"},
    )
    products = feed.products(items, {"s": 9, "solo": 1, "m": 0})
    assert [(p.id, p.title, [v.item.id for v in p.variants]) for p in products] == [
        ("tee", "Tee", ["s", "m"]),
        ("solo", "A", ["solo"]),
    ]


@given(st.integers(min_value=-5, max_value=50), st.booleans())
def test_availability_is_the_first_row_that_holds(units: int, digital: bool) -> None:
    item = catalog({**ITEM, "digital": digital}).products["a"]
    found = feed.availability(item, units)
    if digital:
        assert found == feed.Availability(True, "in_stock")
    elif units <= 0:
        assert found == feed.Availability(False, "out_of_stock")
    elif units <= feed.LIMITED_STOCK:
        assert found == feed.Availability(True, "limited_stock")
    else:
        assert found == feed.Availability(True, "in_stock")


@given(st.lists(st.integers(min_value=-3, max_value=30), min_size=1, max_size=6))
def test_every_rendered_product_is_schema_valid(levels: list[int]) -> None:
    items = [
        {**ITEM, "id": f"i{n}", "group_id": f"g{n % 2}", "list_price": 150, "condition": ["new"]}
        for n in range(len(levels))
    ]
    shop = catalog(*items, seller={"name": "Shop"})
    available = {f"i{n}": units for n, units in enumerate(levels)}
    products = wire.catalog_products(shop, available, "https://shop.example.com")
    assert sum(len(p["variants"]) for p in products) == len(levels)
    for product in products:
        acp_schema.validate_bundle("2026-04-17", acp_schema.FEED, "Product", product)
