"""Metrics, request logs, discovery and readiness."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import orjson
import structlog

from agentic_commerce.actors.system import ActorSystem
from tests import acp_schema
from tests.http.conftest import VERSIONS, AcpClient, address_update, create_body, payment

FAMILIES = (
    "acs_http_requests_total",
    "acs_http_request_duration_seconds",
    "acs_checkout_sessions_total",
    "acs_session_actors",
    "acs_actor_mailbox_depth",
    "acs_actor_restarts_total",
    "acs_orders_total",
    "acs_order_value_minor_units_total",
    "acs_payments_total",
    "acs_payment_duration_seconds",
    "acs_webhook_deliveries_total",
    "acs_webhook_outbox_events",
    "acs_idempotency_total",
    "acs_rate_limited_total",
    "acs_auth_failures_total",
    "acs_inventory_units",
)


async def scrape(acp: AcpClient) -> str:
    response = await acp._client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return str(await response.get_data(as_text=True))


def sample(text: str, name: str, missing: float | None = None, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))  # as exposed
    selector = rf"\{{{re.escape(wanted)}\}}" if labels else ""
    pattern = rf"^{re.escape(name)}{selector} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    if match is None and missing is not None:
        return missing
    assert match, f"no sample {name}{{{wanted}}}"
    return float(match.group(1))


async def test_every_family_is_exported_from_the_first_scrape(acp: AcpClient) -> None:
    text = await scrape(acp)
    for family in FAMILIES:
        assert re.search(rf"^{family}(\{{|\s|_)", text, re.MULTILINE), family
    assert sample(text, "acs_inventory_units", product="usb_c_cable", state="available") >= 0


async def test_counters_follow_a_checkout(acp: AcpClient, system: ActorSystem) -> None:
    before = await scrape(acp)
    session_id = (await acp.create(create_body("2026-04-17", **address_update("2026-04-17")))).body[
        "id"
    ]
    await acp.complete(session_id, payment("2026-04-17"))
    await acp.create(create_body("2026-04-17"), headers={"Authorization": "Bearer nope"})
    after = await scrape(acp)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, 0.0, **labels)

    assert delta("acs_checkout_sessions_total", event="created") == 1
    assert delta("acs_checkout_sessions_total", event="completed") == 1
    assert delta("acs_orders_total", currency="usd") == 1
    assert delta("acs_payments_total", processor="simulated", outcome="charged") == 1
    assert delta("acs_idempotency_total", result="stored") == 2
    assert delta("acs_auth_failures_total", reason="invalid_api_key") == 1
    route = "/checkout_sessions/<session_id>/complete"
    assert delta("acs_http_requests_total", route=route, method="POST", status="200") == 1
    assert session_id not in after


async def test_one_log_line_per_request_without_secrets(acp: AcpClient) -> None:
    card, cvc = "4242424242424242", "987"
    with structlog.testing.capture_logs() as logs:
        created = await acp.create(create_body("2026-04-17", **address_update("2026-04-17")))
        session_id = created.body["id"]
        total = next(t["amount"] for t in created.body["totals"] if t["type"] == "total")
        delegated = await acp._client.post(
            "/agentic_commerce/delegate_payment",
            data=orjson.dumps(vault_body(card, cvc, session_id, total)),
            headers=acp.headers({"Content-Type": "application/json"}, "POST"),
        )
        token = (await delegated.get_json())["id"]
        done = await acp.complete(session_id, payment("2026-04-17", token))
        assert done.body["status"] == "completed"
    requests = [entry for entry in logs if entry["event"] == "request"]
    assert len(requests) == 3
    for entry in requests:
        assert entry["request_id"] and entry["merchant"] == "merchant_demo"
        assert isinstance(entry["duration_ms"], float) and entry["status"] in (200, 201)
    assert requests[-1]["session_id"] == session_id
    text = str(logs)
    for secret in (card, cvc, token, "api_key_demo_123"):
        # Whole values only: a 3-digit CVC turns up inside random hex ids by chance.
        assert not re.search(rf"(?<![0-9A-Za-z_]){re.escape(secret)}(?![0-9A-Za-z_])", text)


def vault_body(card: str, cvc: str, session_id: str, total: int) -> dict[str, object]:
    return {
        "payment_method": {
            "type": "card",
            "card_number_type": "fpan",
            "number": card,
            "exp_month": "12",
            "exp_year": str(datetime.now(UTC).year + 1),
            "cvc": cvc,
            "display_card_funding_type": "credit",
            "metadata": {},
        },
        "allowance": {
            "reason": "one_time",
            "max_amount": total,
            "currency": "usd",
            "checkout_session_id": session_id,
            "merchant_id": "merchant_demo",
            "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        },
        "risk_signals": [],
        "metadata": {},
    }


async def test_discovery_document(acp: AcpClient) -> None:
    response = await acp._client.get("/.well-known/acp.json")
    assert response.status_code == 200
    body = await response.get_json()
    acp_schema.validate("2026-04-17", "DiscoveryResponse", body)
    assert body["protocol"]["supported_versions"] == list(reversed(VERSIONS))  # oldest first
    assert "merchant_demo" not in str(body)
    assert response.headers["Cache-Control"] == "public, max-age=3600"


async def test_ready_says_no_while_draining(acp: AcpClient, system: ActorSystem) -> None:
    assert (await acp._client.get("/ready")).status_code == 200
    system.draining = True
    response = await acp._client.get("/ready")
    assert response.status_code == 503
    assert (await response.get_json())["checks"]["not_draining"] is False
    assert (await acp._client.get("/health")).status_code == 200
