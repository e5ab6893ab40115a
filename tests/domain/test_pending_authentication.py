"""A charge waiting for 3-D Secure, in the pure checkout functions and the
simulated processor: what keeps it and what voids it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentic_commerce.config.settings import DEFAULT_CATALOG
from agentic_commerce.domain import checkout, pricing
from agentic_commerce.domain.catalog import Catalog
from agentic_commerce.domain.commands import (
    CreateSession,
    FulfillmentChoice,
    LineInput,
    PaymentCredential,
    UpdateSession,
)
from agentic_commerce.domain.model import Address, Buyer, FulfillmentDetails, Session, Status
from agentic_commerce.payments.base import (
    AUTHENTICATED,
    Charged,
    ChargeRequest,
    Declined,
    NeedsAuthentication,
    Voided,
    authenticated,
    order_id_for,
)
from agentic_commerce.payments.simulated import SimulatedProcessor
from agentic_commerce.protocol.requests_2026_01_30 import AuthenticationResult

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
CATALOG = Catalog.from_document(json.loads(DEFAULT_CATALOG.read_text()))
CA = Address("Ada", "1 Main Street", "San Francisco", "CA", "US", "94105")
CA_OTHER = replace(CA, line_one="2 Mission Street")
NY = replace(CA, city="New York", state="NY", postal_code="10004")
# Every outcome the request model knows (the schema's enum).
OUTCOMES = list(get_args(AuthenticationResult.model_fields["outcome"].annotation))


def lines(*pairs: tuple[str, int]) -> tuple[LineInput, ...]:
    return tuple(
        LineInput(pid, Decimal(qty), f"$.line_items[{i}]") for i, (pid, qty) in enumerate(pairs)
    )


def waiting(*pairs: tuple[str, int]) -> Session:
    """A payable session whose charge waits for 3-D Secure."""
    created = checkout.create(
        CreateSession(
            currency="usd",
            lines=lines(*(pairs or (("item_123", 1), ("usb_c_cable", 1)))),
            fulfillment=FulfillmentDetails(name="Ada", address=CA),
        ),
        session_id="cs_1",
        merchant_id="merchant_test",
        api_version="2026-04-17",
        catalog=CATALOG,
        now=NOW,
        ttl=timedelta(minutes=30),
    )
    ready = checkout.settle(created, CATALOG, NOW)
    assert ready.status is Status.READY_FOR_PAYMENT
    return replace(ready, status=Status.AUTHENTICATION_REQUIRED, pending_payment="pi_123")


def changed(session: Session, **fields: Any) -> tuple[bool, Session]:
    after = checkout.update(session, UpdateSession(**fields), CATALOG, NOW)
    void = checkout.voids_authentication(session, after, CATALOG, NOW)
    return void, checkout.settle(after, CATALOG, NOW, void=void)


@pytest.mark.parametrize(
    "fields",
    [
        {"buyer": Buyer(email="ada@example.com")},
        {"buyer": Buyer(email="not-an-email")},  # refused, reported: still the same charge
        {"order_notes": "Leave it at the door."},
        {"fulfillment": FulfillmentDetails(name="Ada", address=CA_OTHER)},  # same taxes
        {"lines": lines(("usb_c_cable", 1), ("item_123", 1))},  # same cart, other order
        {"fulfillment_choices": (FulfillmentChoice("shipping_standard", "$.x"),)},
    ],
    ids=["buyer", "invalid_email", "notes", "same_total_address", "reordered", "same_option"],
)
def test_a_change_that_keeps_the_charge_keeps_it_waiting(fields: dict[str, Any]) -> None:
    session = waiting()
    void, settled = changed(session, **fields)
    assert not void
    assert settled.status is Status.AUTHENTICATION_REQUIRED
    assert settled.pending_payment == "pi_123"


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"lines": lines(("item_123", 2), ("usb_c_cable", 1))}, Status.READY_FOR_PAYMENT),
        ({"lines": lines(("item_123", 1))}, Status.READY_FOR_PAYMENT),
        ({"fulfillment": FulfillmentDetails(name="Ada", address=NY)}, Status.READY_FOR_PAYMENT),
        (
            {"fulfillment_choices": (FulfillmentChoice("shipping_express", "$.x"),)},
            Status.READY_FOR_PAYMENT,
        ),
        ({"fulfillment": None}, Status.NOT_READY_FOR_PAYMENT),
    ],
    ids=["quantity", "removed_line", "taxed_address", "dearer_option", "no_address"],
)
def test_a_change_of_the_charge_voids_it(fields: dict[str, Any], status: Status) -> None:
    session = waiting()
    void, settled = changed(session, **fields)
    assert void
    assert settled.status is status
    assert settled.pending_payment is None


def test_another_cart_of_the_same_total_voids() -> None:
    """Swapping a product for another of the same price still changes what is sold."""
    twins = Catalog.from_document(
        {
            "currency": "usd",
            "products": [
                {"id": "red", "title": "Red", "unit_amount": 1000, "stock": 5},
                {"id": "blue", "title": "Blue", "unit_amount": 1000, "stock": 5},
            ],
        }
    )
    session = replace(waiting(), lines=checkout.build_lines(lines(("red", 1)), twins))
    after = replace(session, lines=checkout.build_lines(lines(("blue", 1)), twins))
    assert pricing.quote(session, twins, NOW).total == pricing.quote(after, twins, NOW).total
    assert checkout.voids_authentication(session, after, twins, NOW)


def test_only_a_waiting_charge_is_voided() -> None:
    ready = replace(waiting(), status=Status.READY_FOR_PAYMENT)
    _, settled = changed(ready, lines=lines(("item_123", 3)))
    assert settled.status is Status.READY_FOR_PAYMENT
    without_reference = replace(waiting(), pending_payment=None)
    after = checkout.update(
        without_reference, UpdateSession(lines=lines(("item_123", 3))), CATALOG, NOW
    )
    assert not checkout.voids_authentication(without_reference, after, CATALOG, NOW)


@given(outcome=st.sampled_from(OUTCOMES), details=st.booleans())
def test_only_authenticated_outcomes_authenticate(outcome: str, details: bool) -> None:
    result: dict[str, Any] = {"outcome": outcome}
    if details:
        result["outcome_details"] = {"three_ds_cryptogram": "x", "transaction_id": "t"}
    assert authenticated(result) is (outcome in {"authenticated", "attempt_acknowledged"})
    assert {"authenticated", "attempt_acknowledged"} == AUTHENTICATED
    assert not authenticated(None)


# the simulated processor --------------------------------------------------------------


def request(amount: int = 1000, **extra: Any) -> ChargeRequest:
    return ChargeRequest(
        credential=PaymentCredential("tok_test_3ds", "card_tokenized"),
        amount=amount,
        currency="usd",
        session_id="cs_1",
        merchant_id="merchant_test",
        order_id=order_id_for("cs_1", "tok_test_3ds"),
        can_authenticate=True,
        **extra,
    )


@pytest.mark.parametrize("outcome", OUTCOMES)
async def test_simulated_pending_charge_completes_only_when_authenticated(outcome: str) -> None:
    processor = SimulatedProcessor()
    challenge = await processor.charge(request())
    assert isinstance(challenge, NeedsAuthentication)
    assert processor.owns(challenge.reference)
    result = {"outcome": outcome, "outcome_details": {"three_ds_cryptogram": "x"}}
    answer = await processor.charge(request(pending=challenge.reference, authentication=result))
    if outcome in AUTHENTICATED:
        assert isinstance(answer, Charged)
        assert answer.payment.reference == challenge.reference
    else:
        assert isinstance(answer, Declined)


async def test_simulated_pending_charge_is_for_its_amount() -> None:
    processor = SimulatedProcessor()
    challenge = await processor.charge(request(1000))
    assert isinstance(challenge, NeedsAuthentication)
    result = {"outcome": "authenticated"}
    other = await processor.charge(
        request(2000, pending=challenge.reference, authentication=result)
    )
    assert isinstance(other, NeedsAuthentication)  # a new challenge for the new amount
    assert other.reference != challenge.reference
    assert await processor.void(challenge.reference) == Voided()
    assert not processor.owns("pi_123")
