"""Payment outcomes at complete: 3-D Secure, interventions the agent lacks, PSP outages."""

from __future__ import annotations

from typing import Any

import pytest

from tests.http.conftest import AcpClient, address_update, create_body, payment

NEW, OLD = "2026-04-17", "2025-09-29"
AUTHENTICATED = {
    "outcome": "authenticated",
    "outcome_details": {
        "three_ds_cryptogram": "AbCdEfGhIjKlMnOpQrStUvWxY0=",
        "electronic_commerce_indicator": "05",
        "transaction_id": "dsTransId_abc123",
        "version": "2.2.0",
    },
}


async def session(acp: AcpClient, version: str, interventions: list[str] | None = None) -> str:
    extra: dict[str, Any] = address_update(version)
    if interventions is not None:
        extra["capabilities"] = {"interventions": {"supported": interventions}}
    reply = await acp.using(version).create(create_body(version, **extra))
    assert reply.status == 201
    return str(reply.body["id"])


async def test_three_d_secure_flow(acp: AcpClient) -> None:
    session_id = await session(acp, NEW, ["3ds"])
    created = await acp.get(session_id)
    assert created.body["capabilities"]["interventions"]["supported"] == ["3ds"]

    challenged = await acp.complete(session_id, payment(NEW, "tok_test_3ds"))
    assert challenged.status == 200
    assert challenged.body["status"] == "authentication_required"
    metadata = challenged.body["authentication_metadata"]
    assert metadata["directory_server"] == "visa"
    assert metadata["acquirer_details"]["acquirer_country"] == "US"
    assert "order" not in challenged.body

    refused = await acp.complete(session_id, payment(NEW, "tok_test_3ds"))
    assert refused.status == 400
    assert refused.body["code"] == "requires_3ds"
    assert refused.body["param"] == "$.authentication_result"
    assert (await acp.get(session_id)).body["status"] == "authentication_required"

    body = dict(payment(NEW, "tok_test_3ds"), authentication_result=AUTHENTICATED)
    done = await acp.complete(session_id, body)
    assert done.status == 200
    assert done.body["status"] == "completed"
    assert done.body["order"]["checkout_session_id"] == session_id


async def test_failed_authentication_returns_to_payable(acp: AcpClient) -> None:
    session_id = await session(acp, NEW, ["3ds"])
    await acp.complete(session_id, payment(NEW, "tok_test_3ds"))
    body = dict(payment(NEW, "tok_test_3ds"), authentication_result={"outcome": "denied"})
    denied = await acp.complete(session_id, body)
    assert denied.status == 200
    assert denied.body["status"] == "ready_for_payment"
    codes = {m.get("code") for m in denied.body["messages"]}
    assert "payment_declined" in codes
    retry = await acp.complete(session_id, payment(NEW, "tok_test_ok"))
    assert retry.body["status"] == "completed"


@pytest.mark.parametrize(
    ("version", "code"), [(NEW, "intervention_required"), (OLD, "requires_3ds")]
)
async def test_three_d_secure_without_agent_support(
    acp: AcpClient, version: str, code: str
) -> None:
    session_id = await session(acp, version, [] if version == NEW else None)
    reply = await acp.using(version).complete(session_id, payment(version, "tok_test_3ds"))
    assert reply.status == 200
    assert reply.body["status"] == "ready_for_payment"
    assert code in {m.get("code") for m in reply.body["messages"]}
    assert "order" not in reply.body


@pytest.mark.parametrize("version", [NEW, OLD])
async def test_processor_outage_is_a_retryable_5xx(acp: AcpClient, version: str) -> None:
    client = acp.using(version)
    session_id = await session(acp, version)
    key = {"Idempotency-Key": "pay-once"}
    down = await client.complete(session_id, payment(version, "tok_test_unavailable"), headers=key)
    assert down.status == 502
    assert down.body["type"] == "processing_error"
    assert down.headers["Retry-After"] == "1"
    assert (await client.get(session_id)).body["status"] == "ready_for_payment"
    again = await client.complete(session_id, payment(version, "tok_test_unavailable"), headers=key)
    assert again.status == 502
    assert again.headers.get("Idempotent-Replayed") is None
