"""The pure cart operations: a cart's estimate always adds up, whatever sequence of
full replacements (PUTs) it goes through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from agentic_commerce.config.settings import Settings
from agentic_commerce.domain import cart as carts
from agentic_commerce.domain.cart import EditCart
from agentic_commerce.domain.catalog import Catalog
from agentic_commerce.domain.commands import LineInput
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.supervisor import load_catalog

CATALOG = load_catalog(Settings())
NOW = datetime(2026, 4, 17, tzinfo=UTC)
PRODUCTS = [*CATALOG.products, "unknown_item"]
STOCK = {p.id: p.stock for p in CATALOG}

edits = st.lists(
    st.tuples(st.sampled_from(PRODUCTS), st.integers(min_value=1, max_value=20)),
    min_size=1,
    max_size=6,
).map(
    lambda pairs: EditCart(
        tuple(LineInput(p, Decimal(q), f"$.line_items[{i}]") for i, (p, q) in enumerate(pairs))
    )
)


def assert_adds_up(cart: carts.Cart, catalog: Catalog = CATALOG) -> None:
    quote = carts.estimate(cart, catalog, NOW)
    by_type = {t.type: t.amount for t in quote.totals}
    assert set(by_type) <= set(carts.ESTIMATED)
    assert by_type["subtotal"] == sum(pl.subtotal for pl in quote.lines)
    assert by_type["items_base_amount"] - by_type["items_discount"] == by_type["subtotal"]
    # no address: no tax, no shipping; less an automatic order discount
    assert by_type["total"] == by_type["subtotal"] - by_type.get("discount", 0)
    for pl in quote.lines:
        assert pl.base == pl.product.unit_amount * int(pl.line.quantity)  # type: ignore[union-attr]
        assert pl.total == pl.subtotal + pl.tax
    short = {m.param for m in quote.messages if m.code == "out_of_stock"}
    assert len(short) == len(cart.short_products)


def created(edit: EditCart, catalog: Catalog) -> carts.Cart | None:
    """A new cart, or None when nothing in it is available (422)."""
    try:
        return carts.create(
            edit,
            cart_id="cart_1",
            merchant_id="m",
            catalog=catalog,
            available=STOCK,
            now=NOW,
            ttl=timedelta(hours=1),
        )
    except RequestRejected as refused:
        assert refused.status == 422  # nothing available at all
        return None


@settings(derandomize=True, max_examples=200)
@given(first=edits, puts=st.lists(edits, max_size=5))
def test_totals_add_up_over_any_sequence_of_puts(first: EditCart, puts: list[EditCart]) -> None:
    cart = created(first, CATALOG)
    if cart is None:
        return
    assert_adds_up(cart)
    for step, put in enumerate(puts, 1):
        try:
            cart = carts.replace_contents(cart, put, CATALOG, STOCK, NOW + timedelta(minutes=step))
        except RequestRejected as refused:
            assert refused.status == 422
            continue
        assert_adds_up(cart)
        assert cart.expires_at == NOW + timedelta(hours=1)  # a PUT never extends the cart
        products = {line.product_id for line in cart.lines}
        assert products == {i.product_id for i in put.lines if CATALOG.get(i.product_id)}


AUTOMATIC = CATALOG.with_promotions(
    [
        {
            "id": "auto",
            "name": "3.00 off from 50.00",
            "amount_off": 300,
            "currency": "usd",
            "minimum_subtotal": 5000,
        },
        {"id": "code", "code": "CODE", "name": "Codes never apply to carts", "percent_off": 50},
    ]
)


@settings(derandomize=True, max_examples=100)
@given(edit=edits)
def test_a_cart_estimate_takes_off_the_automatic_promotions_only(edit: EditCart) -> None:
    cart = created(edit, AUTOMATIC)
    if cart is None:
        return
    assert_adds_up(cart, AUTOMATIC)
    totals = {t.type: t.amount for t in carts.estimate(cart, AUTOMATIC, NOW).totals}
    assert totals.get("discount", 0) == (300 if totals["items_base_amount"] >= 5000 else 0)
