"""Payment outcomes at complete: 3-D Secure, interventions the agent lacks, PSP outages."""

from __future__ import annotations

from typing import Any

import pytest

from tests import acp_schema
from tests.http.conftest import (
    AUTHENTICATED,
    DECLARING,
    THREE_DS,
    AcpClient,
    address_update,
    create_body,
    payment,
)

NEW, OLD = "2026-04-17", "2025-09-29"


async def session(acp: AcpClient, version: str, interventions: list[str] | None = None) -> str:
    extra: dict[str, Any] = address_update(version)
    if interventions is not None:
        extra["capabilities"] = {"interventions": {"supported": interventions}}
    reply = await acp.using(version).create(create_body(version, **extra))
    assert reply.status == 201
    return str(reply.body["id"])


def failed(version: str) -> dict[str, Any]:
    """A failed authentication among the version's outcomes (2026-01-16 has its own)."""
    result = acp_schema.raw_schema(version)["$defs"]["AuthenticationResult"]
    return {
        "outcome": "denied" if "denied" in result["properties"]["outcome"]["enum"] else "failed"
    }


@pytest.mark.parametrize("version", THREE_DS)
async def test_three_d_secure_flow(acp: AcpClient, version: str) -> None:
    client = acp.using(version)  # every body is checked against the version's schema
    declares = version in DECLARING  # else its agents are taken as able to authenticate
    session_id = await session(acp, version, ["3ds"] if declares else None)
    if declares:
        created = await client.get(session_id)
        assert created.body["capabilities"]["interventions"]["supported"] == ["3ds"]

    challenged = await client.complete(session_id, payment(version, "tok_test_3ds"))
    assert challenged.status == 200
    assert challenged.body["status"] == "authentication_required"
    metadata = challenged.body["authentication_metadata"]
    assert metadata["directory_server"] == "visa"
    assert metadata["acquirer_details"]["acquirer_country"] == "US"
    # 2026-01-30 requires the browser channel; 2026-04-17 dropped it.
    assert ("channel" in metadata) is (version != NEW)
    assert "order" not in challenged.body

    refused = await client.complete(session_id, payment(version, "tok_test_3ds"))
    assert refused.status == 400
    assert refused.body["code"] == "requires_3ds"
    assert refused.body["param"] == "$.authentication_result"
    assert (await client.get(session_id)).body["status"] == "authentication_required"

    body = dict(payment(version, "tok_test_3ds"), authentication_result=AUTHENTICATED)
    done = await client.complete(session_id, body)
    assert done.status == 200
    assert done.body["status"] == "completed"
    assert done.body["order"]["checkout_session_id"] == session_id


@pytest.mark.parametrize("version", THREE_DS)
async def test_failed_authentication_returns_to_payable(acp: AcpClient, version: str) -> None:
    client = acp.using(version)
    session_id = await session(acp, version, ["3ds"] if version in DECLARING else None)
    await client.complete(session_id, payment(version, "tok_test_3ds"))
    body = dict(payment(version, "tok_test_3ds"), authentication_result=failed(version))
    denied = await client.complete(session_id, body)
    assert denied.status == 200
    assert denied.body["status"] == "ready_for_payment"
    codes = {m.get("code") for m in denied.body["messages"]}
    assert "payment_declined" in codes
    assert "order" not in denied.body
    retry = await client.complete(session_id, payment(version, "tok_test_ok"))
    assert retry.body["status"] == "completed"


@pytest.mark.parametrize(
    ("outcome", "completes"),
    [
        ("authenticated", True),
        ("attempt", True),  # attempt_acknowledged
        ("failed", False),  # denied
        ("rejected", False),
        ("unavailable", False),  # not_supported
    ],
)
async def test_authentication_outcomes_of_2026_01_16(
    acp: AcpClient, outcome: str, completes: bool
) -> None:
    """2026-01-16's own outcomes, read as the domain's: only its successful ones
    complete the payment; the others fail it (the session is payable again)."""
    version = "2026-01-16"
    client = acp.using(version)
    session_id = await session(acp, version)
    challenged = await client.complete(session_id, payment(version, "tok_test_3ds"))
    assert challenged.body["status"] == "authentication_required"
    result = {"outcome": outcome, "outcome_details": AUTHENTICATED["outcome_details"]}
    body = dict(payment(version, "tok_test_3ds"), authentication_result=result)
    reply = await client.complete(session_id, body)
    assert reply.status == 200, reply.body
    assert reply.body["status"] == ("completed" if completes else "ready_for_payment")
    assert ("order" in reply.body) is completes


@pytest.mark.parametrize(
    ("locale", "language"), [(None, "en-US"), ("fr-FR", "fr-FR"), ("not a tag", "en-US")]
)
async def test_browser_channel_of_2026_01_30(
    acp: AcpClient, locale: str | None, language: str
) -> None:
    """The server never sees the buyer's browser: conservative values, the language
    from the session's locale when it is a language tag (see protocol/three_ds.py)."""
    version = "2026-01-30"
    extra: dict[str, Any] = {"capabilities": {"interventions": {"supported": ["3ds"]}}}
    if locale is not None:
        extra["locale"] = locale
    client = acp.using(version)
    created = await client.create(create_body(version, **address_update(version), **extra))
    challenged = await client.complete(created.body["id"], payment(version, "tok_test_3ds"))
    assert challenged.body["authentication_metadata"]["channel"] == {
        "type": "browser",
        "browser": {
            "accept_header": "*/*",
            "ip_address": "0.0.0.0",
            "javascript_enabled": False,
            "language": language,
            "user_agent": "unknown",
        },
    }


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
