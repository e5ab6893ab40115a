"""Promotions: the rules of `domain/discounts.py`, by example, and the promises of
every allocation and quote over any promotions, lines and codes (hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentic_commerce.domain import discounts, pricing
from agentic_commerce.domain.catalog import Catalog, CatalogError
from agentic_commerce.domain.discounts import Promotion, Target, allocate, apply
from agentic_commerce.domain.model import Address, Session
from agentic_commerce.domain.money import percent_of
from tests.domain.test_pricing import make_session

NOW = datetime(2026, 6, 1, tzinfo=UTC)
WELCOME = Promotion("welcome10", "10% off", "WELCOME10", percent_off=Decimal(10))
SAVE5 = Promotion(
    "save5", "5 off", "SAVE5", amount_off=500, currency="usd", minimum_subtotal=2500, priority=2
)
OLD = Promotion("old", "Old", "OLD", percent_off=Decimal(20), end=NOW - timedelta(days=1))
SOON = Promotion("soon", "Soon", "SOON", percent_off=Decimal(20), start=NOW + timedelta(days=1))
EUROS = Promotion("euros", "EUR", "EUROS", amount_off=100, currency="eur")
SHIRTS = Promotion(
    "shirts",
    "Shirts",
    "SHIRTS",
    percent_off=Decimal(50),
    method="each",
    categories=frozenset({"t"}),
)
ALONE = Promotion("alone", "Alone", "ALONE", percent_off=Decimal(30), combinable=False)
LIMITED = Promotion("limited", "Limited", "LIMITED", amount_off=100, currency="usd", usage_limit=5)
ALL = (WELCOME, SAVE5, OLD, SOON, EUROS, SHIRTS, ALONE, LIMITED)
LINES = (Target("a", "t", 5000), Target("b", None, 1999))


def run(codes: list[str], targets: tuple[Target, ...] = LINES, **kw: object) -> discounts.Discounts:
    options: dict[str, object] = {"currency": "usd", "now": NOW, "codes_allowed": True, **kw}
    return apply(ALL, codes, targets, **options)  # type: ignore[arg-type]


def reasons(result: discounts.Discounts) -> dict[str, str]:
    return {r.code: r.reason for r in result.rejected}


def test_stacked_by_priority_on_what_the_earlier_left() -> None:
    result = run(["SAVE5", "welcome10"])
    assert [a.promotion.id for a in result.applied] == ["welcome10", "save5"]
    assert [a.amount for a in result.applied] == [700, 500]  # 10% of 6999, then 5.00
    assert result.applied[0].code == "welcome10"  # as sent


@pytest.mark.parametrize(
    ("codes", "code", "reason"),
    [
        (["NOPE"], "NOPE", "discount_code_invalid"),
        (["WELCOME10", "Welcome10"], "Welcome10", "discount_code_already_applied"),
        (["OLD"], "OLD", "discount_code_expired"),
        (["SOON"], "SOON", "discount_code_expired"),
        (["EUROS"], "EUROS", "discount_code_invalid"),
        (["WELCOME10", "ALONE"], "ALONE", "discount_code_combination_disallowed"),
        (["LIMITED"], "LIMITED", "discount_code_usage_limit_reached"),
    ],
)
def test_each_rule_refuses_with_its_reason(codes: list[str], code: str, reason: str) -> None:
    result = run(codes, exhausted={"limited"})
    assert reasons(result) == {code: reason}
    rejected = result.rejected[0]
    assert rejected.index == codes.index(code) and code in rejected.message


def test_minimum_and_restrictions() -> None:
    cable = (Target("b", None, 1999),)
    assert reasons(run(["SAVE5"], cable)) == {"SAVE5": "discount_code_minimum_not_met"}
    assert reasons(run(["SHIRTS"], cable)) == {"SHIRTS": "discount_code_minimum_not_met"}
    [shirts] = run(["SHIRTS"]).applied
    assert shirts.shares == (2500, 0)  # the t-shirt only


def test_codes_without_the_extension_are_refused_and_nothing_applies() -> None:
    result = run(["WELCOME10"], codes_allowed=False)
    assert result.applied == ()
    assert reasons(result) == {"WELCOME10": "discount_code_invalid"}
    assert "extension" in result.rejected[0].message


def test_automatic_promotions_need_no_code_and_are_never_refused() -> None:
    auto = Promotion("auto", "Auto", None, amount_off=300, currency="usd", minimum_subtotal=6000)
    applied = apply((auto,), [], LINES, currency="usd", now=NOW, codes_allowed=False)
    assert [a.amount for a in applied.applied] == [300]
    small = apply((auto,), [], LINES[1:], currency="usd", now=NOW, codes_allowed=False)
    assert small == discounts.Discounts()


def test_a_combinable_code_after_one_that_is_not() -> None:
    result = run(["ALONE", "WELCOME10"])
    assert [a.promotion.id for a in result.applied] == ["alone"]
    assert reasons(result) == {"WELCOME10": "discount_code_combination_disallowed"}


def test_allocation_remainder_goes_to_the_largest_line_first() -> None:
    assert allocate(700, [5000, 1999]) == (501, 199)
    assert allocate(7, [2, 1, 1, 1, 1, 1, 1]) == (2, 1, 1, 1, 1, 1, 0)
    assert allocate(3, [1, 1, 1]) == (1, 1, 1)


# -- promises over any input ---------------------------------------------------------

amounts = st.integers(min_value=0, max_value=2_000_000)
weights = st.lists(amounts, min_size=1, max_size=8)


@given(weights, st.data())
def test_allocate_sums_and_never_exceeds_a_weight(ws: list[int], data: st.DataObject) -> None:
    amount = data.draw(st.integers(min_value=0, max_value=sum(ws)))
    shares = allocate(amount, ws)
    assert sum(shares) == amount
    assert all(0 <= s <= w for s, w in zip(shares, ws, strict=True))
    # Proportional: no share more than one unit per line from its exact part ...
    if sum(ws):
        assert all(s >= amount * w // sum(ws) for s, w in zip(shares, ws, strict=True))
    assert allocate(amount, ws) == shares  # ... and always the same


CATEGORIES = ("t", "u", None)


@st.composite
def promotion_st(draw: st.DrawFn) -> Promotion:
    """Any promotion: a percentage or an amount off, either method, any priority,
    restricted or not, combinable or not, with a code or automatic."""
    percent = draw(st.booleans())
    return Promotion(
        id=draw(st.uuids()).hex,
        name="P",
        code=draw(st.one_of(st.none(), st.sampled_from(["A", "B", "C", "D"]))),
        percent_off=draw(st.decimals(min_value="0.5", max_value=100, places=1))
        if percent
        else None,
        amount_off=None if percent else draw(st.integers(min_value=1, max_value=50_000)),
        currency=None if percent else "usd",
        method=draw(st.sampled_from(["each", "across"])),
        priority=draw(st.integers(min_value=1, max_value=3)),
        minimum_subtotal=draw(st.integers(min_value=0, max_value=20_000)),
        categories=frozenset(draw(st.sets(st.sampled_from(["t", "u"]), max_size=1))),
        combinable=draw(st.booleans()),
    )


promotions_st = st.lists(promotion_st(), max_size=5, unique_by=lambda p: p.code or p.id)
targets_st = st.lists(
    st.builds(
        Target,
        product_id=st.sampled_from(["x", "y", "z"]),
        category=st.sampled_from(CATEGORIES),
        base=amounts,
    ),
    min_size=1,
    max_size=6,
)
codes_st = st.lists(st.sampled_from(["A", "b", "C", "D", "E"]), max_size=5)


@given(promotions_st, targets_st, codes_st)
def test_no_line_goes_below_zero_and_amounts_add_up(
    promotions: list[Promotion], targets: list[Target], codes: list[str]
) -> None:
    result = apply(promotions, codes, targets, currency="usd", now=NOW, codes_allowed=True)
    taken = [0] * len(targets)
    for applied in result.applied:
        assert len(applied.shares) == len(targets)
        assert all(share >= 0 for share in applied.shares)
        assert applied.amount == sum(applied.shares)
        for index, share in enumerate(applied.shares):
            taken[index] += share
    assert all(t <= target.base for t, target in zip(taken, targets, strict=True))
    each = result.per_line("each", len(targets))
    across = result.per_line("across", len(targets))
    assert [a + b for a, b in zip(each, across, strict=True)] == taken
    # Every submitted code is either applied or refused, once.
    applied_codes = [a.code for a in result.applied if a.code is not None]
    assert sorted(applied_codes + [r.code for r in result.rejected]) == sorted(codes)
    # Deterministic.
    assert apply(promotions, codes, targets, currency="usd", now=NOW, codes_allowed=True) == result


def _catalog(promotions: list[Promotion]) -> Catalog:
    document = {
        "currency": "usd",
        "products": [
            {"id": "x", "title": "X", "unit_amount": 1999, "stock": 10, "category": "t"},
            {"id": "y", "title": "Y", "unit_amount": 5000, "stock": 10},
            {"id": "z", "title": "Z", "unit_amount": 1, "stock": 10, "category": "u"},
        ],
    }
    catalog = Catalog.from_document(document)
    return Catalog(catalog.currency, catalog.products, tuple(promotions))


def _session(lines: dict[str, int], codes: list[str]) -> Session:
    """A session shipping to New York that negotiated the extension and sent `codes`."""
    address = Address("A", "1 Main St", "Albany", "NY", "US", "12207")
    session = make_session(list(lines.items()), address)
    return replace(session, extensions=("discount",), discount_codes=tuple(codes))


@given(
    promotions_st,
    st.dictionaries(st.sampled_from(["x", "y", "z"]), st.integers(1, 50), min_size=1),
    codes_st,
)
def test_quote_totals_add_up_with_tax_on_discounted_amounts(
    promotions: list[Promotion], lines: dict[str, int], codes: list[str]
) -> None:
    quote = pricing.quote(_session(lines, codes), _catalog(promotions), NOW)
    totals = {t.type: t.amount for t in quote.totals}
    assert totals["items_discount"] == sum(pl.discount for pl in quote.lines)
    assert totals.get("discount", 0) == sum(pl.order_discount for pl in quote.lines)
    assert totals["subtotal"] == totals["items_base_amount"] - totals["items_discount"]
    assert totals["total"] == (
        totals["subtotal"] - totals.get("discount", 0) + totals["fulfillment"] + totals["tax"]
    )
    assert totals["total"] >= 0
    rate = Decimal("8.375")  # New York
    shipping_tax = quote.selected.tax if quote.selected else 0
    for pl in quote.lines:
        assert pl.tax == percent_of(pl.base - pl.discount - pl.order_discount, rate)
    assert totals["tax"] == sum(pl.tax for pl in quote.lines) + shipping_tax
    assert pricing.quote(_session(lines, codes), _catalog(promotions), NOW) == quote


def test_quote_warns_of_each_refused_code() -> None:
    quote = pricing.quote(_session({"y": 1}, ["WELCOME10", "NOPE"]), _catalog([WELCOME]), NOW)
    [warning] = [m for m in quote.messages if m.code == "discount_code_invalid"]
    assert warning.param == "$.discounts.codes[1]" and not warning.blocking
    assert quote.ready  # a refused code never blocks the checkout


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"id": "p", "name": "P", "code": "X"}, "exactly one of"),
        ({"id": "p", "name": "P", "amount_off": 5}, "currency"),
        ({"id": "p", "name": "P", "percent_off": 101}, "percent_off"),
        ({"id": "p", "name": "P", "percent_off": 5, "product_ids": ["nope"]}, "unknown products"),
        ({"id": "p", "name": "P", "percent_off": 5, "end": "2026-01-01T00:00:00"}, "UTC offset"),
        ({"id": "p", "name": "P", "percent_off": 5, "limit": 3}, "limit"),
    ],
)
def test_bad_promotions_are_refused_at_start(entry: dict[str, object], problem: str) -> None:
    document = {
        "products": [{"id": "x", "title": "X", "unit_amount": 1, "stock": 1}],
        "promotions": [entry],
    }
    with pytest.raises(CatalogError, match=problem):
        Catalog.from_document(document)


def test_duplicate_codes_differ_in_case_only() -> None:
    entries = [
        {"id": "a", "name": "A", "code": "SAME", "percent_off": 5},
        {"id": "b", "name": "B", "code": "same", "percent_off": 5},
    ]
    with pytest.raises(CatalogError, match="duplicate promotion code"):
        Catalog.from_document(
            {
                "products": [{"id": "x", "title": "X", "unit_amount": 1, "stock": 1}],
                "promotions": entries,
            }
        )


def test_usage_limits_are_seeded_like_stock() -> None:
    catalog = _catalog([LIMITED, WELCOME])
    assert catalog.stock_levels()["promotion:limited"] == 5
    assert "promotion:welcome10" not in catalog.stock_levels()
    assert catalog.extensions == ("discount",)
    assert _catalog([]).extensions == ()
