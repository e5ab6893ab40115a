"""Domain values survive JSON and back exactly (what the Redis store keeps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentic_commerce.domain.model import (
    Address,
    Buyer,
    FulfillmentDetails,
    Line,
    Message,
    MessageType,
    Order,
    OrderLine,
    Payment,
    Refund,
    Session,
    Shipment,
    Status,
    Total,
)
from agentic_commerce.domain.vault import VaultToken
from agentic_commerce.store.base import IdempotencyRecord, OutboxEvent
from agentic_commerce.store.serialization import DecodeError, decode, encode

text = st.text(max_size=12)
opt_text = st.none() | text
amounts = st.integers(-(2**53), 2**53)
offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
times = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(text, json_values, max_size=3)

addresses = st.builds(
    Address, text, text, text, text, text, text, line_two=opt_text, company=opt_text
)
buyers = st.builds(
    Buyer,
    email=opt_text,
    first_name=opt_text,
    last_name=opt_text,
    full_name=opt_text,
    phone_number=opt_text,
    extra=json_objects,
)
fulfillments = st.builds(
    FulfillmentDetails,
    name=opt_text,
    phone_number=opt_text,
    email=opt_text,
    address=st.none() | addresses,
)
quantities = st.decimals(allow_nan=False, allow_infinity=False, places=None)
messages = st.builds(
    Message,
    st.sampled_from(MessageType),
    text,
    code=opt_text,
    param=opt_text,
    blocking=st.booleans(),
)
orders = st.builds(
    Order,
    id=text,
    checkout_session_id=text,
    permalink_url=text,
    created_at=times,
    currency=text,
    lines=st.lists(
        st.builds(OrderLine, text, text, text, amounts, amounts, amounts, amounts), max_size=3
    ).map(tuple),
    totals=st.lists(st.builds(Total, text, text, amounts), max_size=3).map(tuple),
    payment=st.builds(Payment, text, text, amounts, text),
    status=text,
    order_notes=opt_text,
    updated_at=st.none() | times,
    shipment=st.none() | st.builds(Shipment, opt_text, opt_text, opt_text),
    refunds=st.lists(
        st.builds(Refund, text, amounts, text, times, reason=opt_text), max_size=2
    ).map(tuple),
)
sessions = st.builds(
    Session,
    id=text,
    merchant_id=text,
    api_version=text,
    status=st.sampled_from(Status),
    currency=text,
    lines=st.lists(st.builds(Line, text, text, quantities), max_size=3).map(tuple),
    created_at=times,
    updated_at=times,
    expires_at=times,
    version=st.integers(0, 2**40),
    buyer=st.none() | buyers,
    fulfillment=st.none() | fulfillments,
    shipping_option_id=opt_text,
    interventions=st.lists(text, max_size=2).map(tuple),
    locale=opt_text,
    timezone=opt_text,
    quote_id=opt_text,
    metadata=st.none() | json_objects,
    order_notes=opt_text,
    short_products=st.lists(text, max_size=2).map(tuple),
    notices=st.lists(messages, max_size=2).map(tuple),
    pending_payment=opt_text,
    order=st.none() | orders,
)
tokens = st.builds(
    VaultToken,
    id=text,
    merchant_id=text,
    checkout_session_id=text,
    max_amount=amounts,
    currency=text,
    expires_at=times,
    created_at=times,
    brand=text,
    last4=text,
    exp_month=st.none() | st.integers(1, 12),
    exp_year=st.none() | st.integers(2000, 2100),
    funding=text,
    card_fingerprint=text,
    metadata=st.dictionaries(text, text, max_size=3),
    consumed_by=opt_text,
)
events = st.builds(
    OutboxEvent,
    id=text,
    type=st.sampled_from(["order_create", "order_update"]),
    session_id=text,
    order_id=opt_text,
    api_version=text,
    created_at=times,
    order=st.none() | orders,
    state=st.sampled_from(["pending", "in_flight", "delivered", "dead"]),
    attempts=st.integers(0, 100),
    next_attempt_at=st.none() | times,
    lease_until=st.none() | times,
    last_error=opt_text,
)
records = st.builds(
    IdempotencyRecord,
    scope=text,
    fingerprint=text,
    status=st.integers(100, 599),
    body=st.binary(max_size=64),
    headers=st.lists(st.tuples(text, text), max_size=3).map(tuple),
    expires_at=st.floats(0, 2e9),
)


def round_trip(value: Any) -> Any:
    return decode(type(value), encode(value))


@given(sessions)
def test_sessions(session: Session) -> None:
    again = round_trip(session)
    assert again == session
    assert [str(line.quantity) for line in again.lines] == [str(q.quantity) for q in session.lines]


@given(tokens)
def test_vault_tokens(token: VaultToken) -> None:
    assert round_trip(token) == token


@given(events)
def test_outbox_events(event: OutboxEvent) -> None:
    assert round_trip(event) == event


@given(records)
def test_idempotency_records_keep_their_body_bytes(record: IdempotencyRecord) -> None:
    assert round_trip(record) == record


@given(times)
def test_datetimes_keep_their_offset(at: datetime) -> None:
    order = Order("o", "s", "u", at, "usd", (), (), Payment("p", "r", 1, "usd"))
    assert round_trip(order).created_at.utcoffset() == at.utcoffset()


def test_a_field_missing_from_stored_bytes_takes_its_default() -> None:
    """Bytes written before a field was added still read."""
    raw = b'{"carrier": "ups"}'
    assert decode(Shipment, raw) == Shipment(carrier="ups")


@pytest.mark.parametrize("raw", [b"not json", b'{"id": 1}', b"[]"])
def test_bytes_of_another_shape_are_refused(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(Payment, raw)
