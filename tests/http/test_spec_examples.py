"""Every request example of the served versions, replayed against the server.

Each example's expected outcome is written down here. Several examples cannot
succeed against any real merchant as written (upstream defects or ids of the
example merchant); the reason is given next to each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests import acp_schema
from tests.http.conftest import VERSIONS, AcpClient, address_update, create_body


def examples(version: str, name: str = "examples.agentic_checkout.json") -> dict[str, Any]:
    path = acp_schema.spec_dir() / version / "examples" / name
    return json.loads(path.read_text())


@dataclass(frozen=True)
class Expect:
    """The endpoint an example goes to, and what the server must answer."""

    endpoint: str  # create | update | complete | cancel
    status: int
    session_status: str | None = None
    code: str | None = None  # error code, or a message code that must be present
    param: str | None = None
    why: str = ""


EXPECTED: dict[tuple[str, str], Expect] = {
    ("2026-04-17", "create_checkout_session_request"): Expect(
        "create", 201, "ready_for_payment", why="item_123 is in the demo catalog; CA address"
    ),
    ("2026-04-17", "create_checkout_session_request_with_first_touch_attribution"): Expect(
        "create", 201, "not_ready_for_payment", "missing", why="no address yet"
    ),
    ("2026-04-17", "update_checkout_session_request"): Expect(
        "update",
        400,
        code="invalid_fulfillment_option",
        param="$.selected_fulfillment_options[0].option_id",
        why="fulfillment_option_456 is an id of the example merchant, not ours",
    ),
    ("2026-04-17", "complete_checkout_session_request"): Expect(
        "complete",
        200,
        "ready_for_payment",
        "payment_declined",
        why="spt_ tokens need the Stripe processor (not configured): declined, no order",
    ),
    ("2026-04-17", "complete_checkout_session_request_with_last_touch_attribution"): Expect(
        "complete", 200, "ready_for_payment", "payment_declined", why="as above"
    ),
    ("2026-04-17", "complete_checkout_session_request_seller_backed"): Expect(
        "complete",
        400,
        code="invalid_handler",
        param="$.payment_data.handler_id",
        why="seller_pm_123 is a seller-backed handler this merchant does not advertise",
    ),
    ("2026-04-17", "complete_session_with_authentication_result_request"): Expect(
        "complete", 200, "ready_for_payment", "payment_declined", why="spt_ token, see above"
    ),
    ("2026-04-17", "complete_session_with_denied_authentication_request"): Expect(
        "complete", 200, "ready_for_payment", "payment_declined", why="spt_ token, see above"
    ),
    ("2026-04-17", "cancel_checkout_session_request"): Expect("cancel", 200, "canceled"),
    ("2026-04-17", "cancel_checkout_session_request_timing_deferred"): Expect(
        "cancel", 200, "canceled"
    ),
    ("2025-09-29", "create_checkout_session_request"): Expect(
        "create",
        201,
        "not_ready_for_payment",
        "invalid",
        "$.line_items[0].item.quantity",
        why="quantity 2.5 of a whole-unit product",
    ),
    ("2025-09-29", "update_checkout_session_request"): Expect(
        "update",
        400,
        code="invalid_fulfillment_option",
        param="$.fulfillment_option_id",
        why="fulfillment_option_456 is an id of the example merchant",
    ),
    ("2025-09-29", "complete_checkout_session_request"): Expect(
        "complete", 200, "ready_for_payment", "payment_declined", why="spt_ token, see above"
    ),
}
# 2025-12-12 and 2026-01-16 have the same request examples, in the 2025 shapes (`items`,
# the nested selection, `payment_data.token`); 2026-01-16 adds one with a 3-D Secure result.
BY_KEY_2025_12 = {
    "create_checkout_session_request": Expect(
        "create", 201, "ready_for_payment", why="item_123 and a CA address in fulfillment_details"
    ),
    "create_checkout_session_request_with_first_touch_attribution": Expect(
        "create", 201, "not_ready_for_payment", "missing", why="no address yet"
    ),
    "update_checkout_session_request": Expect(
        "update",
        400,
        code="invalid_fulfillment_option",
        param="$.selected_fulfillment_options[0].shipping.option_id",
        why="fulfillment_option_456 is an id of the example merchant",
    ),
    "complete_checkout_session_request": Expect(
        "complete", 200, "ready_for_payment", "payment_declined", why="spt_ token, see above"
    ),
    "complete_checkout_session_request_with_last_touch_attribution": Expect(
        "complete", 200, "ready_for_payment", "payment_declined", why="as above"
    ),
    "complete_session_with_authentication_result_request": Expect(
        "complete",
        200,
        "ready_for_payment",
        "payment_declined",
        why="spt_ token; the session waits for no 3-D Secure, so the result is not used",
    ),
    "cancel_checkout_session_request": Expect(
        "cancel", 200, "canceled", why="intent_trace with metadata"
    ),
    "cancel_checkout_session_request_timing_deferred": Expect(
        "cancel", 200, "canceled", why="reason timing_deferred"
    ),
}
for _version in ("2025-12-12", "2026-01-16"):
    for _key, _expect in BY_KEY_2025_12.items():
        if _version == "2026-01-16" or "authentication_result" not in _key:
            EXPECTED[(_version, _key)] = _expect

# 2026-01-30's request examples are 2026-04-17's bodies without what that version added
# (no `order_notes`, no denied-authentication example): the same outcomes, for the same
# reasons. The coverage test below sees to it that none of them is left out.
EXPECTED.update(
    {
        ("2026-01-30", key): expect
        for (version, key), expect in list(EXPECTED.items())
        if version == "2026-04-17" and key in examples("2026-01-30")
    }
)

MULTI_ITEM = Expect(
    "create",
    400,
    code="missing_field",
    param="$.capabilities",
    why="upstream defect: the example omits the required `capabilities` (and item_456 is "
    "not a product of ours)",
)


def request_examples(version: str) -> list[str]:
    # Not only `…_request`: also `…_request_seller_backed`, `…_request_timing_deferred`, ...
    return sorted(k for k in examples(version) if "_request" in k)


def test_every_request_example_has_an_expected_outcome() -> None:
    for version in VERSIONS:
        for key in request_examples(version):
            assert (version, key) in EXPECTED, f"no expectation for {version} {key}"


async def replay(acp: AcpClient, version: str, expect: Expect, body: Any) -> Any:
    client = acp.using(version)
    if expect.endpoint == "create":
        return await client.create(body)
    session = await client.create(create_body(version, **address_update(version)))
    assert session.status == 201
    session_id = session.body["id"]
    if expect.endpoint == "update":
        return await client.update(session_id, body)
    if expect.endpoint == "complete":
        return await client.complete(session_id, body)
    return await client.cancel(session_id, body)


@pytest.mark.parametrize(("version", "key"), sorted(EXPECTED))
async def test_request_example(acp: AcpClient, version: str, key: str) -> None:
    expect = EXPECTED[(version, key)]
    reply = await replay(acp, version, expect, examples(version)[key])
    assert reply.status == expect.status, reply.body
    if reply.status >= 400:
        assert reply.body["code"] == expect.code
        assert reply.body.get("param") == expect.param
        return
    assert reply.body["status"] == expect.session_status
    if expect.code is not None:
        matching = [m for m in reply.body["messages"] if m.get("code") == expect.code]
        assert matching, reply.body["messages"]
        if expect.param is not None:
            assert matching[0]["param"] == expect.param
    if expect.endpoint == "complete":
        assert "order" not in reply.body


async def test_multi_item_example(acp: AcpClient) -> None:
    body = examples("2026-04-17", "examples.multi_item_checkout.json")[
        "create_multi_item_checkout_request"
    ]
    reply = await acp.create(body)
    assert reply.status == MULTI_ITEM.status
    assert reply.body["code"] == MULTI_ITEM.code
    assert reply.body["param"] == MULTI_ITEM.param
    body = dict(body, capabilities={})
    fixed = await acp.create(body)
    assert fixed.status == 400
    assert fixed.body["code"] == "invalid_item_id"
    assert fixed.body["param"] == "$.line_items[1]"


NEGOTIATION = "examples.capability_negotiation.json"


@pytest.mark.parametrize(
    "key", sorted(k for k in examples("2026-01-16", NEGOTIATION) if k.endswith("_request"))
)
async def test_capability_negotiation_example_is_refused(acp: AcpClient, key: str) -> None:
    """2026-01-16's capability-negotiation examples follow an RFC draft no schema took up
    (tests/protocol/test_acp_schema.py): `agent_capabilities` is an unknown field."""
    reply = await acp.using("2026-01-16").create(examples("2026-01-16", NEGOTIATION)[key])
    assert reply.status == 400
    assert reply.body["code"] == "unknown_field"
    assert reply.body["param"] == "$.agent_capabilities"
