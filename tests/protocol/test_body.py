"""A request body is read once (`Body.read`) and every check reads that value; the
models keep the meaning reading the JSON text gave them."""

from __future__ import annotations

import pytest

from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.protocol.base import Body, parse
from agentic_commerce.protocol.requests_2025_09_29 import CreateRequest as Create2025
from agentic_commerce.protocol.strictness import JsonDateTime, Open, Strict


def test_a_body_is_read_once_into_its_value() -> None:
    assert Body.read(b'{"a": [1, 2.5, "x"]}').value == {"a": [1, 2.5, "x"]}
    assert Body.read(b"  ").empty and not Body.read(b"  ").invalid
    assert Body.read(b"{nope").invalid
    huge = Body.read(b'{"n": 123456789012345678901234567890}')
    assert huge.value == {"n": 123456789012345678901234567890}  # exact, not a float


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b"", "invalid_json"), (b"{nope", "invalid_json"), (b"[1]", "invalid_json")],
)
def test_what_is_not_a_json_object_is_refused(raw: bytes, code: str) -> None:
    with pytest.raises(RequestRejected) as refused:
        parse(Create2025, Body.read(raw))
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("quantity", "ok"), [(2, True), (2.5, True), ('"2.5"', True), ("true", False), ('"x"', False)]
)
def test_a_decimal_quantity_reads_as_the_json_text_did(quantity: object, ok: bool) -> None:
    raw = f'{{"items": [{{"id": "item_123", "quantity": {quantity}}}]}}'.encode()
    if ok:
        assert parse(Create2025, Body.read(raw)).items[0].quantity > 0
    else:
        with pytest.raises(RequestRejected) as refused:
            parse(Create2025, Body.read(raw))
        assert refused.value.param == "$.items[0].quantity"


class Stamped(Strict):
    at: JsonDateTime


@pytest.mark.parametrize(
    ("at", "ok"), [('"2026-01-15T12:00:00Z"', True), ("1900000000", False), ("null", False)]
)
def test_a_date_time_must_be_a_string(at: str, ok: bool) -> None:
    raw = f'{{"at": {at}}}'.encode()
    if ok:
        assert parse(Stamped, Body.read(raw)).at.year == 2026
    else:
        with pytest.raises(RequestRejected) as refused:
            parse(Stamped, Body.read(raw))
        assert (refused.value.code, refused.value.param) == ("invalid_field", "$.at")


def test_integers_beyond_64_bits_are_refused_where_they_are() -> None:
    """Even in a part the model ignores: orjson would have read it as a float."""
    raw = b'{"at": "2026-01-15T12:00:00Z", "n": 18446744073709551616}'
    with pytest.raises(RequestRejected) as refused:
        parse(Open, Body.read(raw))
    assert (refused.value.code, refused.value.param) == ("invalid_field", "$.n")
