"""Quotes: line pricing, tax per jurisdiction, shipping options, messages, totals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentic_commerce.config.settings import DEFAULT_CATALOG
from agentic_commerce.domain import checkout, pricing, shipping, tax
from agentic_commerce.domain.catalog import Catalog
from agentic_commerce.domain.model import (
    Address,
    FulfillmentDetails,
    Line,
    Message,
    MessageType,
    Session,
    Status,
)
from agentic_commerce.domain.money import percent_of

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
DEMO = Catalog.from_document(json.loads(DEFAULT_CATALOG.read_text()))
CUSTOM = Catalog.from_document(
    {
        "currency": "usd",
        "products": [
            {"id": "p200", "title": "Two hundred", "unit_amount": 200, "stock": 100},
            {"id": "p600", "title": "Six hundred", "unit_amount": 600, "stock": 100},
            {"id": "p600b", "title": "Six hundred too", "unit_amount": 600, "stock": 100},
            {"id": "p9999", "title": "Just under", "unit_amount": 9999, "stock": 100},
            {"id": "p10000", "title": "Exactly", "unit_amount": 10000, "stock": 100},
            {"id": "p1", "title": "One cent", "unit_amount": 1, "stock": 100000},
            {"id": "d500", "title": "Download", "unit_amount": 500, "stock": 100, "digital": True},
        ],
    }
)


def address(state: str = "CA", country: str = "US") -> Address:
    return Address(
        name="Ada Lovelace",
        line_one="1 Main Street",
        city="Springfield",
        state=state,
        country=country,
        postal_code="12345",
    )


def make_session(
    lines: list[tuple[str, Decimal | int | str]],
    addr: Address | None = None,
    *,
    option: str | None = None,
    short: tuple[str, ...] = (),
    notices: tuple[Message, ...] = (),
) -> Session:
    return Session(
        id="cs_test",
        merchant_id="merchant_test",
        api_version="2025-09-29",
        status=Status.NOT_READY_FOR_PAYMENT,
        currency="usd",
        lines=tuple(Line(f"li_{pid}", pid, Decimal(q)) for pid, q in lines),
        created_at=NOW,
        updated_at=NOW,
        expires_at=NOW + timedelta(hours=1),
        fulfillment=FulfillmentDetails(address=addr) if addr is not None else None,
        shipping_option_id=option,
        short_products=short,
        notices=notices,
    )


def totals(q: pricing.Quote) -> dict[str, int]:
    return {t.type: t.amount for t in q.totals}


def codes(q: pricing.Quote) -> list[tuple[str | None, str | None]]:
    return [(m.code, m.param) for m in q.messages]


# money -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "rate", "expected"),
    [
        (200, "8.375", 17),  # 16.75
        (600, "8.75", 53),  # 52.5: half up, not half even (52)
        (10, "5", 1),  # 0.5
        (9, "5", 0),  # 0.45
        (1400, "8.375", 117),  # 117.25
        (1999, "8.25", 165),  # 164.9175
        (0, "20", 0),
    ],
)
def test_percent_of_rounds_half_up(amount: int, rate: str, expected: int) -> None:
    assert percent_of(amount, Decimal(rate)) == expected


# tax table ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "country", "rate", "taxes_shipping"),
    [
        ("CA", "US", "8.75", False),
        ("NY", "US", "8.375", True),
        ("TX", "US", "8.25", True),
        ("FL", "US", "7.5", False),
        ("WA", "US", "6.5", True),
        ("OR", "US", "6", False),  # US default
        ("ny", "us", "8.375", True),  # case-insensitive
        ("ON", "CA", "5", True),  # Canada, not California
        ("London", "GB", "20", True),
        ("BE", "DE", "19", True),
        ("IDF", "FR", "20", True),
        ("NSW", "AU", "10", True),
        ("13", "JP", "10", True),
        ("CDMX", "MX", "0", False),  # world default
    ],
)
def test_tax_rule_per_jurisdiction(
    state: str, country: str, rate: str, taxes_shipping: bool
) -> None:
    rule = tax.rule_for(address(state, country))
    assert rule.rate_percent == Decimal(rate)
    assert rule.taxes_shipping is taxes_shipping


def test_no_address_means_no_tax_yet() -> None:
    assert tax.rule_for(None).rate_percent == 0
    q = pricing.quote(make_session([("p10000", 1)]), CUSTOM, NOW)
    assert totals(q)["tax"] == 0


@pytest.mark.parametrize(
    ("state", "country", "line_tax"),
    [
        ("CA", "US", 875),
        ("NY", "US", 838),  # 837.5
        ("TX", "US", 825),
        ("FL", "US", 750),
        ("WA", "US", 650),
        ("NV", "US", 600),
        ("BC", "CA", 500),
        ("X", "GB", 2000),
        ("X", "BR", 0),
    ],
)
def test_quote_line_tax_uses_the_destination_rate(state: str, country: str, line_tax: int) -> None:
    q = pricing.quote(make_session([("p10000", 1)], address(state, country)), CUSTOM, NOW)
    assert q.lines[0].tax == line_tax
    assert q.lines[0].total == 10000 + line_tax


def test_tax_is_rounded_per_line_not_on_the_sum() -> None:
    # 8.75 % of 600 is 52.5 per line: 53 + 53 = 106, where the sum (1200) would give 105.
    q = pricing.quote(make_session([("p600", 1), ("p600b", 1)], address("CA")), CUSTOM, NOW)
    assert [pl.tax for pl in q.lines] == [53, 53]
    assert totals(q)["tax"] == 106


def test_ny_rounding_of_a_small_line() -> None:
    q = pricing.quote(make_session([("p200", 1)], address("NY")), CUSTOM, NOW)
    assert q.lines[0].tax == 17  # 16.75


def test_line_figures() -> None:
    q = pricing.quote(make_session([("item_123", 3)], address("TX")), DEMO, NOW)
    (pl,) = q.lines
    assert pl.quantity == 3
    assert pl.base == 3 * 7999
    assert pl.discount == 0
    assert pl.subtotal == 3 * 7999
    assert pl.tax == percent_of(3 * 7999, Decimal("8.25"))
    assert pl.total == pl.subtotal + pl.tax


# shipping ----------------------------------------------------------------------


def test_shipping_is_taxed_where_the_table_says_so() -> None:
    ny = pricing.quote(make_session([("p200", 1)], address("NY")), CUSTOM, NOW)
    assert ny.selected is not None and ny.selected.id == "shipping_standard"
    assert ny.selected.subtotal == 500
    assert ny.selected.tax == 42  # 8.375 % of 500 = 41.875
    assert totals(ny)["tax"] == 17 + 42

    ca = pricing.quote(make_session([("p200", 1)], address("CA")), CUSTOM, NOW)
    assert ca.selected is not None and ca.selected.tax == 0
    assert totals(ca)["tax"] == percent_of(200, Decimal("8.75"))

    gb = pricing.quote(make_session([("p200", 1)], address("X", "GB")), CUSTOM, NOW)
    assert gb.selected is not None and gb.selected.subtotal == 2500
    assert gb.selected.tax == 500
    assert totals(gb)["tax"] == 40 + 500


def test_shipping_options_appear_only_once_an_address_is_known() -> None:
    without = pricing.quote(make_session([("item_123", 1)]), DEMO, NOW)
    assert without.options == ()
    assert without.selected is None
    assert totals(without)["fulfillment"] == 0
    assert ("missing", "$.fulfillment_details.address") in codes(without)
    missing = next(m for m in without.messages if m.code == "missing")
    assert missing.type is MessageType.ERROR
    assert not without.ready

    with_address = pricing.quote(make_session([("item_123", 1)], address("CA")), DEMO, NOW)
    assert [(o.id, o.type) for o in with_address.options] == [
        ("shipping_standard", "shipping"),
        ("shipping_express", "shipping"),
    ]
    assert [o.subtotal for o in with_address.options] == [500, 1500]
    assert with_address.ready
    assert with_address.messages == ()


def test_first_option_is_selected_unless_one_was_chosen() -> None:
    default = pricing.quote(make_session([("item_123", 1)], address()), DEMO, NOW)
    assert default.selected is not None and default.selected.id == "shipping_standard"
    assert totals(default)["fulfillment"] == 500

    express = pricing.quote(
        make_session([("item_123", 1)], address(), option="shipping_express"), DEMO, NOW
    )
    assert express.selected is not None and express.selected.id == "shipping_express"
    assert totals(express)["fulfillment"] == 1500
    early, late = express.selected.earliest_delivery, express.selected.latest_delivery
    assert (early, late) == (NOW + timedelta(days=1), NOW + timedelta(days=2))


def test_international_rates() -> None:
    q = pricing.quote(make_session([("p10000", 2)], address("X", "DE")), CUSTOM, NOW)
    assert [(o.id, o.subtotal) for o in q.options] == [
        ("shipping_standard", 2500),
        ("shipping_express", 4500),
    ]  # never free abroad


@pytest.mark.parametrize(
    ("lines", "standard"),
    [
        ([("p9999", 1)], 500),
        ([("p10000", 1)], 0),
        ([("p9999", 1), ("p1", 1)], 0),
        ([("p600", 16)], 500),  # 9600
        ([("p600", 17)], 0),  # 10200
    ],
)
def test_free_standard_shipping_threshold(lines: list[tuple[str, int]], standard: int) -> None:
    q = pricing.quote(make_session(lines, address("CA")), CUSTOM, NOW)
    by_id = {o.id: o.subtotal for o in q.options}
    assert by_id == {"shipping_standard": standard, "shipping_express": 1500}
    assert totals(q)["fulfillment"] == standard


def test_digital_goods_do_not_count_towards_free_shipping() -> None:
    q = pricing.quote(make_session([("p9999", 1), ("d500", 1)], address("CA")), CUSTOM, NOW)
    assert {o.id: o.subtotal for o in q.options}["shipping_standard"] == 500


def test_digital_only_cart_needs_no_address() -> None:
    session = make_session([("ebook_python_guide", 2)])
    q = pricing.quote(session, DEMO, NOW)
    assert [(o.id, o.type) for o in q.options] == [(shipping.DIGITAL_OPTION_ID, "digital")]
    assert q.digital is not None and q.digital.total == 0
    assert q.selected is None
    assert q.messages == ()
    assert q.ready
    assert totals(q)["fulfillment"] == 0
    assert totals(q)["total"] == 2 * 2999
    assert checkout.settle(session, DEMO, NOW).status is Status.READY_FOR_PAYMENT


def test_digital_only_cart_with_address_gets_only_the_digital_option() -> None:
    q = pricing.quote(make_session([("ebook_python_guide", 1)], address("NY")), DEMO, NOW)
    assert [o.id for o in q.options] == [shipping.DIGITAL_OPTION_ID]
    assert q.selected is None
    assert totals(q)["tax"] == percent_of(2999, Decimal("8.375"))


def test_mixed_cart_gets_shipping_and_digital_options() -> None:
    q = pricing.quote(
        make_session([("item_123", 1), ("ebook_python_guide", 1)], address()), DEMO, NOW
    )
    assert [o.id for o in q.options] == [
        "shipping_standard",
        "shipping_express",
        shipping.DIGITAL_OPTION_ID,
    ]
    assert q.selected is not None and q.selected.id == "shipping_standard"


def test_mixed_cart_without_address_is_not_ready() -> None:
    session = make_session([("item_123", 1), ("ebook_python_guide", 1)])
    q = pricing.quote(session, DEMO, NOW)
    assert [o.id for o in q.options] == [shipping.DIGITAL_OPTION_ID]
    assert ("missing", "$.fulfillment_details.address") in codes(q)
    assert checkout.settle(session, DEMO, NOW).status is Status.NOT_READY_FOR_PAYMENT


# messages ----------------------------------------------------------------------


def test_out_of_stock_message_from_short_products() -> None:
    session = make_session([("item_123", 1), ("usb_c_cable", 2)], address(), short=("usb_c_cable",))
    q = pricing.quote(session, DEMO, NOW)
    assert codes(q) == [("out_of_stock", "$.line_items[1]")]
    assert q.messages[0].type is MessageType.ERROR
    assert "USB-C Cable" in q.messages[0].content
    assert not q.ready
    # The short line is still priced: the buyer sees what was asked for.
    assert q.lines[1].base == 2 * 1999


@pytest.mark.parametrize("quantity", ["1.5", "0.25", "0", "-1"])
def test_non_whole_quantity_is_invalid(quantity: str) -> None:
    q = pricing.quote(make_session([("item_123", 1), ("test", quantity)], address()), DEMO, NOW)
    assert codes(q) == [("invalid", "$.line_items[1].quantity")]
    assert not q.ready
    bad = q.lines[1]
    assert (bad.quantity, bad.base, bad.tax, bad.total) == (0, 0, 0, 0)
    assert totals(q)["subtotal"] == 7999


def test_product_no_longer_sold() -> None:
    q = pricing.quote(make_session([("gone", 1)], address()), DEMO, NOW)
    assert codes(q) == [("not_found", "$.line_items[0]")]
    assert not q.ready


def test_whole_decimal_quantity_is_fine() -> None:
    q = pricing.quote(make_session([("item_123", "2.00")], address()), DEMO, NOW)
    assert q.ready
    assert q.lines[0].quantity == 2


def test_notices_are_reported_and_non_blocking_ones_keep_ready() -> None:
    blocking = Message(MessageType.ERROR, "bad e-mail", "invalid", "$.buyer.email")
    q = pricing.quote(make_session([("item_123", 1)], address(), notices=(blocking,)), DEMO, NOW)
    assert blocking in q.messages
    assert not q.ready
    soft = Message(MessageType.ERROR, "declined", "payment_declined", blocking=False)
    q = pricing.quote(make_session([("item_123", 1)], address(), notices=(soft,)), DEMO, NOW)
    assert soft in q.messages
    assert q.ready


# totals always add up ------------------------------------------------------------

US_STATES = ["CA", "NY", "TX", "FL", "WA", "OR", "NV", "MA", "IL"]
COUNTRIES = ["CA", "GB", "DE", "FR", "AU", "JP", "MX", "BR", "NL"]

addresses = st.one_of(
    st.none(),
    st.builds(address, st.sampled_from(US_STATES), st.just("US")),
    st.builds(address, st.just("X"), st.sampled_from(COUNTRIES)),
)
carts = st.dictionaries(
    st.sampled_from(sorted(DEMO.products)), st.integers(min_value=1, max_value=40), min_size=1
)
choices = st.sampled_from(
    [None, "shipping_standard", "shipping_express", shipping.DIGITAL_OPTION_ID, "bogus"]
)


@given(cart=carts, addr=addresses, choice=choices)
def test_totals_always_add_up(
    cart: dict[str, int], addr: Address | None, choice: str | None
) -> None:
    q = pricing.quote(make_session(list(cart.items()), addr, option=choice), DEMO, NOW)
    t = totals(q)
    assert list(t) == [
        "items_base_amount",
        "items_discount",
        "subtotal",
        "fulfillment",
        "tax",
        "total",
    ]
    for amount in [*t.values(), *(o.subtotal for o in q.options), *(o.tax for o in q.options)]:
        assert isinstance(amount, int)
        assert amount >= 0
    for pl in q.lines:
        for amount in (pl.base, pl.discount, pl.subtotal, pl.tax, pl.total):
            assert isinstance(amount, int)
            assert amount >= 0
        assert pl.product is not None
        assert pl.base == pl.product.unit_amount * cart[pl.line.product_id]
        assert pl.subtotal + pl.tax == pl.total
        assert pl.tax == percent_of(pl.subtotal, tax.rule_for(addr).rate_percent)

    assert sum(pl.base for pl in q.lines) == t["items_base_amount"]
    assert sum(pl.discount for pl in q.lines) == t["items_discount"]
    assert sum(pl.subtotal for pl in q.lines) == t["subtotal"]
    assert t["items_base_amount"] - t["items_discount"] == t["subtotal"]
    selected_tax = q.selected.tax if q.selected is not None else 0
    assert t["tax"] == sum(pl.tax for pl in q.lines) + selected_tax
    assert t["fulfillment"] == (q.selected.subtotal if q.selected is not None else 0)
    assert t["subtotal"] + t["fulfillment"] + t["tax"] == t["total"]
    assert q.total == t["total"]

    physical = any(not DEMO.products[pid].digital for pid in cart)
    if physical and addr is not None:
        assert q.selected is not None
        expected_id = choice if choice in ("shipping_standard", "shipping_express") else None
        assert q.selected.id == (expected_id or "shipping_standard")
    else:
        assert q.selected is None
    assert q.ready is (addr is not None or not physical)
