"""Protocol problems answer with the flat ACP error and change nothing."""

from __future__ import annotations

from collections.abc import Awaitable

import pytest
import trio

from agentic_commerce.actors.session import Get
from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config.settings import Settings
from agentic_commerce.domain.commands import PaymentCredential
from agentic_commerce.domain.model import Payment
from agentic_commerce.http.app import create_app
from agentic_commerce.payments.base import Charged, ChargeRequest, PaymentOutcome, Processor
from agentic_commerce.protocol.traits import BY_VERSION
from agentic_commerce.supervisor import load_catalog
from tests.http.conftest import (
    VERSIONS,
    AcpClient,
    Reply,
    address_update,
    create_body,
    payment,
    shipping_choice,
)
from tests.stores import StoreFactory


async def test_missing_api_version_lists_supported_versions(acp: AcpClient) -> None:
    reply = await acp.create(create_body("2026-04-17"), headers={"API-Version": ""})
    assert reply.status == 400
    assert reply.body["type"] == "invalid_request"
    assert reply.body["code"] == "missing_api_version"
    assert reply.body["supported_versions"] == list(VERSIONS)  # newest first


async def test_unsupported_api_version(acp: AcpClient) -> None:
    reply = await acp.using("2024-01-01").create(create_body("2026-04-17"))
    assert reply.status == 400
    assert reply.body["code"] == "unsupported_api_version"
    assert reply.body["supported_versions"] == list(VERSIONS)  # newest first


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "missing_api_key"),
        ("Bearer wrong", "invalid_api_key"),
        ("Basic abc", "invalid_api_key"),
    ],
)
async def test_bad_api_key_is_401(acp: AcpClient, authorization: str | None, code: str) -> None:
    headers = {"Authorization": authorization} if authorization else {"Authorization": ""}
    reply = await acp.create(create_body("2026-04-17"), headers=headers)
    assert reply.status == 401
    assert reply.body["code"] == code
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert "wrong" not in reply.body["message"]


async def test_health_and_ready_need_no_key(acp: AcpClient) -> None:
    response = await acp._client.get("/health")
    assert response.status_code == 200
    ready = await acp._client.get("/ready")
    assert ready.status_code == 200


@pytest.mark.parametrize("version", VERSIONS)
async def test_malformed_json_is_400(acp: AcpClient, version: str) -> None:
    reply = await acp.using(version).create(None, raw=b'{"items": [')
    assert reply.status == 400
    assert reply.body["code"] == "invalid_json"


@pytest.mark.parametrize("version", VERSIONS)
async def test_json_array_body_is_400(acp: AcpClient, version: str) -> None:
    reply = await acp.using(version).create(None, raw=b"[]")
    assert reply.status == 400
    assert reply.body["code"] == "invalid_json"


@pytest.mark.parametrize("version", VERSIONS)
async def test_unknown_field_is_400_with_its_path(acp: AcpClient, version: str) -> None:
    reply = await acp.using(version).create(create_body(version, surprise=True))
    assert reply.status == 400
    assert reply.body["code"] == "unknown_field"
    assert reply.body["param"] == "$.surprise"


async def test_unknown_nested_field_is_400(acp: AcpClient) -> None:
    body = create_body("2026-04-17")
    body["line_items"][0]["colour"] = "red"
    reply = await acp.create(body)
    assert reply.status == 400
    assert reply.body["param"] == "$.line_items[0].colour"


@pytest.mark.parametrize("version", VERSIONS)
async def test_unknown_item_is_400_pointing_at_the_item(acp: AcpClient, version: str) -> None:
    reply = await acp.using(version).create(create_body(version, product="no_such_item"))
    assert reply.status == 400
    assert reply.body["type"] == "invalid_request"
    assert reply.body["code"] == "invalid_item_id"
    prefix = f"$.{BY_VERSION[version].items}"
    assert reply.body["param"] == f"{prefix}[0]"


@pytest.mark.parametrize("version", VERSIONS)
async def test_wrong_content_type_is_415(acp: AcpClient, version: str) -> None:
    reply = await acp.using(version).create(
        None, raw=b"items=item_123", content_type="application/x-www-form-urlencoded"
    )
    assert reply.status == 415


async def test_body_over_one_mib_is_413(acp: AcpClient) -> None:
    body = create_body("2026-04-17", metadata={"blob": "x" * (1024 * 1024)})
    reply = await acp.create(body)
    assert reply.status == 413
    assert reply.body["code"] == "request_too_large"


async def test_cancel_without_body_is_fine(acp: AcpClient) -> None:
    client = acp.using("2025-09-29")
    session_id = (await client.create(create_body("2025-09-29"))).body["id"]
    reply = await client.cancel(session_id)
    assert reply.status == 200
    assert reply.body["status"] == "canceled"


async def test_cancel_with_unknown_reason_code_is_accepted(acp: AcpClient) -> None:
    session_id = (await acp.create(create_body("2026-04-17"))).body["id"]
    trace = {"intent_trace": {"reason_code": "went_for_a_walk", "trace_summary": "later"}}
    reply = await acp.cancel(session_id, trace)
    assert reply.status == 200
    assert reply.body["status"] == "canceled"


async def test_an_intent_trace_is_read_leniently(acp: AcpClient) -> None:
    """IntentTrace has no additionalProperties in any schema: unknown fields are
    ignored, but a known field of the wrong type is still a 400."""
    session_id = (await acp.create(create_body("2026-04-17"))).body["id"]
    odd = {"intent_trace": {"reason_code": "other", "mood": "curious"}}
    assert (await acp.cancel(session_id, odd)).status == 200
    other = (await acp.create(create_body("2026-04-17"))).body["id"]
    wrong = await acp.cancel(other, {"intent_trace": {"reason_code": 7}})
    assert (wrong.status, wrong.body["param"]) == (400, "$.intent_trace.reason_code")


async def test_decimal_quantity_is_an_invalid_message_in_2025(acp: AcpClient) -> None:
    client = acp.using("2025-09-29")
    reply = await client.create({"items": [{"id": "item_123", "quantity": 2.5}]})
    assert reply.status == 201
    assert reply.body["line_items"][0]["item"]["quantity"] == 2.5
    invalid = [m for m in reply.body["messages"] if m.get("code") == "invalid"]
    assert invalid and invalid[0]["param"] == "$.line_items[0].item.quantity"
    assert reply.body["status"] == "not_ready_for_payment"


async def test_quantity_extension_in_2026(acp: AcpClient) -> None:
    reply = await acp.create(create_body("2026-04-17", quantity=3))
    assert reply.body["line_items"][0]["quantity"] == 3
    zero = await acp.create(
        {"currency": "usd", "line_items": [{"id": "item_123", "quantity": 0}], "capabilities": {}}
    )
    assert zero.status == 400
    assert zero.body["param"] == "$.line_items[0].quantity"


async def test_item_ids_accept_line_ids_and_item_ids(acp: AcpClient) -> None:
    session_id = (await acp.create(create_body("2026-04-17", **address_update("2026-04-17")))).body[
        "id"
    ]
    for item_id in ("item_123", "li_item_123"):
        choice = {"type": "shipping", "option_id": "shipping_express", "item_ids": [item_id]}
        reply = await acp.update(session_id, {"selected_fulfillment_options": [choice]})
        assert reply.status == 200
        assert reply.body["selected_fulfillment_options"][0]["option_id"] == "shipping_express"
    bad = {"type": "shipping", "option_id": "shipping_express", "item_ids": ["nope"]}
    reply = await acp.update(session_id, {"selected_fulfillment_options": [bad]})
    assert reply.status == 400
    assert reply.body["param"] == "$.selected_fulfillment_options[0].item_ids[0]"


async def test_unknown_fulfillment_option_is_400_and_changes_nothing(acp: AcpClient) -> None:
    client = acp.using("2025-09-29")
    created = await client.create(create_body("2025-09-29", **address_update("2025-09-29")))
    session_id = created.body["id"]
    reply = await client.update(session_id, {"fulfillment_option_id": "teleport"})
    assert reply.status == 400
    assert reply.body["param"] == "$.fulfillment_option_id"
    after = await client.get(session_id)
    assert after.body == created.body


async def test_error_messages_never_echo_tokens(acp: AcpClient) -> None:
    session_id = (await acp.create(create_body("2026-04-17"))).body["id"]
    secret = "spt_SECRET_token_value"
    body = payment("2026-04-17", secret)
    body["payment_data"]["instrument"]["credential"]["token"] = 12345  # wrong type
    reply = await acp.complete(session_id, body)
    assert reply.status == 400
    assert "12345" not in str(reply.body)
    body = payment("2026-04-17", secret)
    body["payment_data"]["handler_id"] = "unknown_handler"
    reply = await acp.complete(session_id, body)
    assert reply.status == 400
    assert secret not in str(reply.body)


class GatedProcessor(Processor):
    """Charges only when the test opens the gate, so the session actor stays busy."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = trio.Event()
        self.entered = trio.Event()

    def accepts(self, credential: PaymentCredential) -> bool:
        return True

    async def charge(self, request: ChargeRequest) -> PaymentOutcome:
        self.entered.set()
        await self.gate.wait()
        return Charged(Payment("gated", "ch_1", request.amount, request.currency))


async def test_full_mailbox_is_503_with_retry_after(
    nursery: trio.Nursery, store_factory: StoreFactory
) -> None:
    settings = Settings(mailbox_size=1)
    gated = GatedProcessor()
    system = ActorSystem(settings, store_factory(), load_catalog(settings), processors=[gated])
    nursery.start_soon(system.run)
    await system.sessions.wait_ready()
    async with create_app(system).test_app() as app:
        acp = AcpClient(app.test_client())
        body = create_body("2026-04-17", **address_update("2026-04-17"))
        session_id = (await acp.create(body)).body["id"]
        results: list[int] = []
        both_done = trio.Event()

        async def call(coro: Awaitable[Reply]) -> None:
            results.append((await coro).status)
            if len(results) == 2:
                both_done.set()

        nursery.start_soon(call, acp.complete(session_id, payment("2026-04-17")))
        await gated.entered.wait()  # the actor is busy charging
        nursery.start_soon(call, acp.get(session_id, headers={"X": "1"}))
        system.sessions.ref(session_id).tell(Get("merchant_demo"))  # fills the 1-slot mailbox
        reply = await acp.update(session_id, {"order_notes": "ring twice"})
        assert reply.status == 503
        assert reply.body["type"] == "service_unavailable"
        assert reply.headers["Retry-After"] == "1"
        gated.gate.set()
        with trio.fail_after(5):
            await both_done.wait()
        assert sorted(results) == [200, 200]


async def test_request_id_is_echoed_or_generated(acp: AcpClient) -> None:
    reply = await acp.create(create_body("2026-04-17"), headers={"Request-Id": "req_abc"})
    assert reply.headers["Request-Id"] == "req_abc"
    generated = await acp.create(create_body("2026-04-17"))
    assert generated.headers["Request-Id"].startswith("req_")


@pytest.mark.parametrize("version", [v for v in VERSIONS if BY_VERSION[v].selection == "nested"])
async def test_nested_selection_paths(acp: AcpClient, version: str) -> None:
    """2025-12-12 / 2026-01-16: the member a selection's `type` names is required, and
    errors point inside it."""
    client = acp.using(version)
    session_id = (await client.create(create_body(version, **address_update(version)))).body["id"]
    wrong = {"type": "shipping", "digital": {"option_id": "shipping_express", "item_ids": []}}
    reply = await client.update(session_id, {"selected_fulfillment_options": [wrong]})
    assert (reply.status, reply.body["code"]) == (400, "missing_field")
    assert reply.body["param"] == "$.selected_fulfillment_options[0].shipping"
    unknown = await client.update(session_id, shipping_choice(version, "shipping_express", ["x"]))
    assert (unknown.status, unknown.body["code"]) == (400, "invalid_item_id")
    assert unknown.body["param"] == "$.selected_fulfillment_options[0].shipping.item_ids[0]"
    chosen = await client.update(session_id, shipping_choice(version, "shipping_express", []))
    [selected] = chosen.body["selected_fulfillment_options"]
    assert selected == {
        "type": "shipping",
        "shipping": {"option_id": "shipping_express", "item_ids": ["item_123"]},
    }


async def test_an_attribution_names_a_token_or_a_publisher(acp: AcpClient) -> None:
    """The schema's anyOf: an attribution with neither is refused, with either it is accepted."""
    for version in (v for v in VERSIONS if BY_VERSION[v].three_ds):  # 2025-12-12 on
        client = acp.using(version)
        bare = create_body(version, affiliate_attribution={"provider": "impact.com"})
        refused = await client.create(bare)
        assert (refused.status, refused.body["param"]) == (400, "$.affiliate_attribution")
        named = {"provider": "impact.com", "publisher_id": "pub_1"}
        accepted = await client.create(create_body(version, affiliate_attribution=named))
        assert accepted.status == 201
