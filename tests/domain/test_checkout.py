"""Pure create/update semantics of checkout sessions."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from agentic_commerce.config.settings import DEFAULT_CATALOG
from agentic_commerce.domain import checkout
from agentic_commerce.domain.catalog import Catalog
from agentic_commerce.domain.commands import (
    CreateSession,
    FulfillmentChoice,
    LineInput,
    UpdateSession,
)
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.model import (
    Address,
    Buyer,
    FulfillmentDetails,
    Line,
    MessageType,
    Session,
    Status,
)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=30)
CATALOG = Catalog.from_document(json.loads(DEFAULT_CATALOG.read_text()))


def address(country: str = "US", state: str = "CA") -> Address:
    return Address(
        name="Ada Lovelace",
        line_one="1 Main Street",
        city="Springfield",
        state=state,
        country=country,
        postal_code="12345",
    )


def items(*pairs: tuple[str, Any]) -> tuple[LineInput, ...]:
    return tuple(
        LineInput(pid, Decimal(qty), f"$.line_items[{i}]") for i, (pid, qty) in enumerate(pairs)
    )


def create(**fields: Any) -> Session:
    fields.setdefault("currency", "usd")
    fields.setdefault("lines", items(("item_123", 1)))
    return checkout.create(
        CreateSession(**fields),
        session_id="cs_1",
        merchant_id="merchant_test",
        api_version="2025-09-29",
        catalog=CATALOG,
        now=NOW,
        ttl=TTL,
    )


def notice_codes(session: Session) -> list[tuple[str | None, str | None]]:
    return [(m.code, m.param) for m in session.notices]


BUYER = Buyer(email="ada@example.com", first_name="Ada", last_name="Lovelace")
SHIP_TO = FulfillmentDetails(name="Ada", address=address())


# create ------------------------------------------------------------------------------


def test_create_builds_an_unsettled_session() -> None:
    s = create(buyer=BUYER, fulfillment=SHIP_TO, locale="en-US", metadata={"k": "v"})
    assert s.id == "cs_1"
    assert s.merchant_id == "merchant_test"
    assert s.status is Status.NOT_READY_FOR_PAYMENT
    assert s.currency == "usd"
    assert s.lines == (Line("li_item_123", "item_123", Decimal(1)),)
    assert s.expires_at == NOW + TTL
    assert (s.created_at, s.updated_at) == (NOW, NOW)
    assert s.buyer == BUYER
    assert s.fulfillment == SHIP_TO
    assert (s.locale, s.metadata, s.version, s.notices) == ("en-US", {"k": "v"}, 0, ())
    assert checkout.settle(s, CATALOG, NOW).status is Status.READY_FOR_PAYMENT


def test_currency_is_case_insensitive_but_must_match() -> None:
    assert create(currency="USD").currency == "usd"
    assert create(currency=None).currency == "usd"  # 2025-09-29 sends none
    with pytest.raises(RequestRejected) as info:
        create(currency="eur")
    assert info.value.code == "unsupported_currency"
    assert info.value.param == "$.currency"
    assert info.value.status == 400


def test_unknown_item_id_is_rejected_with_the_items_path() -> None:
    with pytest.raises(RequestRejected) as info:
        create(lines=items(("item_123", 1), ("test", 1), ("no_such_thing", 1)))
    assert info.value.code == "invalid_item_id"
    assert info.value.param == "$.line_items[2]"


def test_repeated_products_merge_into_one_line_in_request_order() -> None:
    s = create(lines=items(("test", 1), ("item_123", 2), ("test", 3)))
    assert s.lines == (
        Line("li_test", "test", Decimal(4)),
        Line("li_item_123", "item_123", Decimal(2)),
    )
    assert checkout.wanted_stock(s) == {"test": 4, "item_123": 2}


def test_wanted_stock_skips_quantities_that_cannot_be_sold() -> None:
    s = create(lines=items(("test", "1.5"), ("item_123", 0), ("usb_c_cable", "2.0")))
    assert checkout.wanted_stock(s) == {"usb_c_cable": 2}


def test_invalid_email_becomes_a_message_and_is_not_stored() -> None:
    s = create(buyer=Buyer(email="not-an-email", first_name="Ada"), fulfillment=SHIP_TO)
    assert s.buyer is None
    assert notice_codes(s) == [("invalid", "$.buyer.email")]
    assert s.notices[0].type is MessageType.ERROR
    assert checkout.settle(s, CATALOG, NOW).status is Status.NOT_READY_FOR_PAYMENT


def test_email_is_normalized() -> None:
    s = create(buyer=Buyer(email="ada@EXAMPLE.COM"))
    assert s.buyer is not None and s.buyer.email == "ada@example.com"
    assert s.notices == ()


def test_impossible_phone_number_is_reported_and_dropped() -> None:
    s = create(buyer=Buyer(email="ada@example.com", phone_number="123"), fulfillment=SHIP_TO)
    assert notice_codes(s) == [("invalid", "$.buyer.phone_number")]
    assert s.buyer is not None
    assert s.buyer.email == "ada@example.com"
    assert s.buyer.phone_number is None


@pytest.mark.parametrize(
    ("country", "possible"),
    [("GB", True), ("US", False)],
)
def test_digits_without_plus_are_read_for_the_address_country(country: str, possible: bool) -> None:
    # A London number written nationally: possible in GB, too long for the US.
    s = create(
        buyer=Buyer(phone_number="02079460958"),
        fulfillment=FulfillmentDetails(address=address(country, "X")),
    )
    assert s.buyer is not None
    if possible:
        assert s.buyer.phone_number == "02079460958"
        assert s.notices == ()
    else:
        assert s.buyer.phone_number is None
        assert notice_codes(s) == [("invalid", "$.buyer.phone_number")]


def test_international_format_is_read_without_a_region() -> None:
    s = create(
        buyer=Buyer(phone_number="+442079460958"),
        fulfillment=FulfillmentDetails(address=address("US")),
    )
    assert s.buyer is not None and s.buyer.phone_number == "+442079460958"
    assert s.notices == ()


def test_fulfillment_contact_fields_are_checked() -> None:
    s = create(
        fulfillment=FulfillmentDetails(email="nope", phone_number="123", address=address("US"))
    )
    assert notice_codes(s) == [
        ("invalid", "$.fulfillment_details.email"),
        ("invalid", "$.fulfillment_details.phone_number"),
    ]
    assert s.fulfillment is not None
    assert (s.fulfillment.email, s.fulfillment.phone_number) == (None, None)
    assert s.fulfillment.address == address("US")


def choice(
    option_id: str,
    *item_ids: str,
    index: int = 0,
    type: str | None = None,
) -> FulfillmentChoice:
    return FulfillmentChoice(option_id, f"$.fulfillment_choices[{index}]", type, item_ids)


def test_create_with_a_shipping_choice() -> None:
    s = create(
        fulfillment=SHIP_TO, fulfillment_choices=(choice("shipping_express", "li_item_123"),)
    )
    assert s.shipping_option_id == "shipping_express"


@pytest.mark.parametrize(
    ("kind", "param"),
    [(None, "$.fulfillment_choices[0]"), ("shipping", "$.fulfillment_choices[0].option_id")],
)
def test_create_with_an_unknown_shipping_option_is_rejected(kind: str | None, param: str) -> None:
    with pytest.raises(RequestRejected) as info:
        create(fulfillment=SHIP_TO, fulfillment_choices=(choice("teleport", type=kind),))
    assert info.value.code == "invalid_fulfillment_option"
    assert info.value.param == param


def test_shipping_option_needs_an_address_first() -> None:
    with pytest.raises(RequestRejected) as info:
        create(fulfillment_choices=(choice("shipping_standard"),))
    assert info.value.code == "invalid_fulfillment_option"


def test_option_type_must_match() -> None:
    with pytest.raises(RequestRejected) as info:
        create(
            fulfillment=SHIP_TO,
            fulfillment_choices=(choice("shipping_standard", type="digital"),),
        )
    assert info.value.code == "invalid_fulfillment_option"
    assert info.value.param == "$.fulfillment_choices[0].option_id"


def test_two_different_shipping_options_are_refused() -> None:
    with pytest.raises(RequestRejected) as info:
        create(
            fulfillment=SHIP_TO,
            fulfillment_choices=(
                choice("shipping_standard"),
                choice("shipping_express", index=1),
            ),
        )
    assert info.value.code == "multiple_shipping_options"
    assert info.value.param == "$.fulfillment_choices[1].option_id"


# update ------------------------------------------------------------------------------


@pytest.fixture
def full() -> Session:
    s = create(
        lines=items(("item_123", 1), ("ebook_python_guide", 1)),
        buyer=BUYER,
        fulfillment=SHIP_TO,
        fulfillment_choices=(choice("shipping_express"),),
        order_notes="leave at the door",
    )
    return checkout.settle(s, CATALOG, NOW)


def test_empty_update_keeps_everything(full: Session) -> None:
    later = NOW + timedelta(minutes=1)
    assert checkout.update(full, UpdateSession(), CATALOG, later) == full


@pytest.mark.parametrize("field", ["buyer", "fulfillment", "fulfillment_choices", "order_notes"])
def test_none_clears_and_absent_keeps(full: Session, field: str) -> None:
    stored = {
        "buyer": "buyer",
        "fulfillment": "fulfillment",
        "fulfillment_choices": "shipping_option_id",
        "order_notes": "order_notes",
    }
    cleared = checkout.update(full, UpdateSession(**{field: None}), CATALOG, NOW)
    assert getattr(full, stored[field]) is not None
    assert getattr(cleared, stored[field]) is None
    for other, attr in stored.items():
        if other != field:
            assert getattr(cleared, attr) == getattr(full, attr)
    assert cleared.lines == full.lines


def test_clearing_the_address_makes_the_session_not_ready(full: Session) -> None:
    assert full.status is Status.READY_FOR_PAYMENT
    changed = checkout.update(full, UpdateSession(fulfillment=None), CATALOG, NOW)
    assert checkout.settle(changed, CATALOG, NOW).status is Status.NOT_READY_FOR_PAYMENT


def test_update_replaces_lines(full: Session) -> None:
    changed = checkout.update(
        full, UpdateSession(lines=items(("test", 2), ("test", 1))), CATALOG, NOW
    )
    assert changed.lines == (Line("li_test", "test", Decimal(3)),)
    assert changed.buyer == full.buyer


def test_update_with_unknown_item_changes_nothing(full: Session) -> None:
    with pytest.raises(RequestRejected) as info:
        checkout.update(full, UpdateSession(lines=items(("test", 1), ("ghost", 1))), CATALOG, NOW)
    assert info.value.code == "invalid_item_id"
    assert info.value.param == "$.line_items[1]"


def test_invalid_email_on_update_keeps_the_previous_buyer(full: Session) -> None:
    changed = checkout.update(full, UpdateSession(buyer=Buyer(email="@@")), CATALOG, NOW)
    assert changed.buyer == full.buyer
    assert notice_codes(changed) == [("invalid", "$.buyer.email")]
    # The notice lasts until the next update.
    again = checkout.update(changed, UpdateSession(order_notes="x"), CATALOG, NOW)
    assert again.notices == ()


def test_update_buyer_phone_uses_the_new_address_country(full: Session) -> None:
    changed = checkout.update(
        full,
        UpdateSession(
            buyer=Buyer(email="ada@example.com", phone_number="02079460958"),
            fulfillment=FulfillmentDetails(address=address("GB", "London")),
        ),
        CATALOG,
        NOW,
    )
    assert changed.notices == ()
    assert changed.buyer is not None and changed.buyer.phone_number == "02079460958"


@pytest.mark.parametrize("item_id", ["li_item_123", "item_123"])
def test_item_ids_accept_line_ids_or_product_ids(full: Session, item_id: str) -> None:
    update = UpdateSession(fulfillment_choices=(choice("shipping_standard", item_id),))
    changed = checkout.update(full, update, CATALOG, NOW)
    assert changed.shipping_option_id == "shipping_standard"


def test_unknown_item_id_in_a_fulfillment_choice_is_rejected(full: Session) -> None:
    update = UpdateSession(
        fulfillment_choices=(
            choice("shipping_standard", "item_123"),
            choice("digital_delivery", "ebook_python_guide", "li_nope", index=1),
        )
    )
    with pytest.raises(RequestRejected) as info:
        checkout.update(full, update, CATALOG, NOW)
    assert info.value.code == "invalid_item_id"
    assert info.value.param == "$.fulfillment_choices[1].item_ids[1]"


def test_unknown_shipping_option_on_update_is_rejected(full: Session) -> None:
    update = UpdateSession(fulfillment_choices=(choice("drone", type="shipping"),))
    with pytest.raises(RequestRejected) as info:
        checkout.update(full, update, CATALOG, NOW)
    assert info.value.code == "invalid_fulfillment_option"
    assert info.value.param == "$.fulfillment_choices[0].option_id"


def test_choosing_digital_delivery_keeps_the_shipping_choice(full: Session) -> None:
    update = UpdateSession(fulfillment_choices=(choice("digital_delivery", "ebook_python_guide"),))
    changed = checkout.update(full, update, CATALOG, NOW)
    assert changed.shipping_option_id == "shipping_express"


def test_shipping_and_digital_choices_together(full: Session) -> None:
    update = UpdateSession(
        fulfillment_choices=(
            choice("digital_delivery", "ebook_python_guide"),
            choice("shipping_standard", "item_123", index=1),
        )
    )
    changed = checkout.update(full, update, CATALOG, NOW)
    assert changed.shipping_option_id == "shipping_standard"


def test_digital_delivery_is_unknown_without_digital_goods() -> None:
    s = create(fulfillment=SHIP_TO)
    update = UpdateSession(fulfillment_choices=(choice("digital_delivery"),))
    with pytest.raises(RequestRejected) as info:
        checkout.update(s, update, CATALOG, NOW)
    assert info.value.code == "invalid_fulfillment_option"


def test_shipping_choice_is_checked_against_the_updated_address(full: Session) -> None:
    # Address and choice in one update: the choice is checked after the address is applied.
    changed = checkout.update(
        replace(full, fulfillment=None, shipping_option_id=None),
        UpdateSession(fulfillment=SHIP_TO, fulfillment_choices=(choice("shipping_express"),)),
        CATALOG,
        NOW,
    )
    assert changed.shipping_option_id == "shipping_express"
