"""The sandbox vault: delegate_payment validation, storage without card data, and
charging its tokens at complete."""

from __future__ import annotations

import copy
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import trio

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config.settings import Settings
from agentic_commerce.http.app import create_app
from agentic_commerce.store.memory import MemoryStore
from agentic_commerce.supervisor import load_catalog
from tests import acp_schema
from tests.http.conftest import (
    NEWEST,
    OLDEST,
    VERSIONS,
    AcpClient,
    Reply,
    address_update,
    create_body,
)
from tests.stores import StoreFactory

NEW, OLD = NEWEST, OLDEST
PATH = "/agentic_commerce/delegate_payment"
CARD = "4242424242424242"
CVC = "223"


def delegate_body(session_id: str = "cs_any", max_amount: int = 100000, **allowance: Any) -> Any:
    return {
        "payment_method": {
            "type": "card",
            "card_number_type": "fpan",
            "number": CARD,
            "exp_month": "12",
            "exp_year": str(datetime.now(UTC).year + 2),
            "cvc": CVC,
            "display_card_funding_type": "credit",
            "display_brand": "visa",
            "display_last4": "4242",
            "metadata": {"issuer": "test"},
        },
        "allowance": {
            "reason": "one_time",
            "max_amount": max_amount,
            "currency": "usd",
            "checkout_session_id": session_id,
            "merchant_id": "merchant_demo",
            "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            **allowance,
        },
        "billing_address": {
            "name": "Ada Lovelace",
            "line_one": "1 Main St",
            "city": "San Francisco",
            "state": "CA",
            "country": "US",
            "postal_code": "94105",
        },
        "risk_signals": [{"type": "card_testing", "score": 10, "action": "authorized"}],
        "metadata": {"source": "tests"},
    }


async def delegate(client: AcpClient, body: Any, **kw: Any) -> Reply:
    """POST to the vault and check the body against the delegate-payment schema
    (card errors and successes) or the checkout Error schema (codes it lacks)."""
    data = orjson.dumps(body)
    headers = client.headers(kw.pop("headers", None), "POST")
    headers["Content-Type"] = "application/json"
    response = await client._client.post(PATH, data=data, headers=headers)
    reply = Reply(response.status_code, orjson.loads(await response.get_data()), response.headers)
    version = client.version
    if reply.status == 201:
        acp_schema.assert_delegate_payment(version, "DelegatePaymentResponse", reply.body)
    elif reply.body["code"] in delegate_codes(version):
        acp_schema.assert_delegate_payment(version, "Error", reply.body)
    else:
        acp_schema.assert_error(version, reply.body)
    return reply


def delegate_codes(version: str) -> set[str]:
    """The codes of the version's delegate-payment Error (a closed enum; 2026-04-17 adds
    `idempotency_key_required` and `idempotency_in_flight`)."""
    error = acp_schema.raw_schema(version, acp_schema.DELEGATE_PAYMENT)["$defs"]["Error"]
    return set(error["properties"]["code"]["enum"])


def edit(body: Any, path: str, value: Any) -> Any:
    changed = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = changed
    for part in parents:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return changed


@pytest.mark.parametrize("version", VERSIONS)
async def test_tokenizes_without_keeping_card_data(
    acp: AcpClient, system: ActorSystem, version: str
) -> None:
    client = acp.using(version)
    reply = await delegate(client, delegate_body(), headers={"Idempotency-Key": "dp-1"})
    assert reply.status == 201
    assert reply.body["id"].startswith("vt_")
    assert reply.body["metadata"]["merchant_id"] == "merchant_demo"
    assert reply.body["metadata"]["source"] == "tests"
    token = await system.store.load_vault_token(reply.body["id"])
    assert token is not None
    assert (token.brand, token.last4, token.funding) == ("visa", "4242", "credit")
    stored = str(asdict(token))
    assert CARD not in stored
    assert CVC not in [str(v) for v in asdict(token).values()]


@pytest.mark.parametrize(
    ("path", "value", "status", "code", "param"),
    [
        ("payment_method.number", "4242-4242-4242-4242", 400, "invalid_card", "number"),
        ("payment_method.number", "4242424242424241", 400, "invalid_card", "number"),
        ("payment_method.number", "42424242424", 400, "invalid_card", "number"),
        ("payment_method.cvc", "12a", 400, "invalid_card", "cvc"),
        ("payment_method.exp_year", "2020", 400, "invalid_card", "exp_year"),
        ("payment_method.exp_month", "13", 400, "invalid_card", "exp_month"),
        ("payment_method.card_number_type", "pan", 400, "invalid_card", "card_number_type"),
        ("allowance.max_amount", 0, 400, "invalid_allowance", "max_amount"),
        ("allowance.currency", "xyz", 400, "invalid_allowance", "currency"),
        ("allowance.currency", "USD", 400, "invalid_field", "currency"),
        ("allowance.expires_at", "2020-01-01T00:00:00Z", 400, "invalid_allowance", "expires_at"),
        ("allowance.merchant_id", "someone_else", 400, "invalid_allowance", "merchant_id"),
        ("allowance.reason", "recurring", 400, "invalid_field", "reason"),
        ("billing_address.line_one", "x" * 61, 400, "invalid_field", "line_one"),
    ],
)
@pytest.mark.parametrize("version", VERSIONS)
async def test_invalid_input_is_refused_and_stores_nothing(
    acp: AcpClient,
    system: ActorSystem,
    version: str,
    path: str,
    value: Any,
    status: int,
    code: str,
    param: str,
) -> None:
    reply = await delegate(acp.using(version), edit(delegate_body(), path, value))
    assert reply.status == status
    assert reply.body["code"] == code
    assert reply.body["param"].endswith(param)
    assert CARD not in str(reply.body)
    if isinstance(system.store, MemoryStore):  # no store lists its tokens: look inside this one
        assert not system.store._vault


async def test_blocked_risk_signal_is_refused(acp: AcpClient) -> None:
    body = delegate_body()
    body["risk_signals"] = [{"type": "card_testing", "score": 99, "action": "blocked"}]
    reply = await delegate(acp, body)
    assert reply.status == 400
    assert reply.body["code"] == "invalid_card"
    assert reply.body["param"] == "$.risk_signals[0]"


async def test_risk_signals_may_be_empty_only_from_2026(acp: AcpClient) -> None:
    body = dict(delegate_body(), risk_signals=[])
    assert (await delegate(acp, body)).status == 201
    old = await delegate(acp.using(OLD), body)
    assert old.status == 400


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("risk_signals", []),  # minItems 1 up to 2026-01-30
        ("payment_method.iin", "4242424"),  # 7: too long up to 2026-01-30 (6), fine in 04-17 (8)
        ("payment_method.display_last4", "242"),  # four digits exactly from 2026-01-30
        ("payment_method.display_last4", "42a2"),
    ],
)
@pytest.mark.parametrize("version", VERSIONS)
async def test_card_limits_are_those_of_the_version(
    acp: AcpClient, version: str, path: str, value: Any
) -> None:
    body = edit(delegate_body(), path, value)
    refused = acp_schema.errors(
        version, acp_schema.DELEGATE_PAYMENT, "DelegatePaymentRequest", body
    )
    reply = await delegate(acp.using(version), body)
    assert reply.status == (400 if refused else 201), reply.body
    if refused:
        assert reply.body["param"] == f"$.{path}"


@pytest.mark.parametrize(("version", "status"), [(NEW, 422), (OLD, 409)])
async def test_idempotency(acp: AcpClient, version: str, status: int) -> None:
    client = acp.using(version)
    key = {"Idempotency-Key": "dp-same"}
    body = delegate_body()
    first = await delegate(client, body, headers=key)
    again = await delegate(client, body, headers=key)
    assert again.body == first.body
    assert again.headers["Idempotent-Replayed"] == "true"
    conflict = await delegate(client, delegate_body(max_amount=5), headers=key)
    assert conflict.status == status
    assert conflict.body["code"] == "idempotency_conflict"


async def test_key_required_in_2026(acp: AcpClient) -> None:
    reply = await delegate(acp, delegate_body(), headers={"Idempotency-Key": None})
    assert reply.status == 400
    assert reply.body["code"] == "idempotency_key_required"


async def test_needs_an_api_key(acp: AcpClient) -> None:
    reply = await delegate(acp, delegate_body(), headers={"Authorization": "Bearer nope"})
    assert reply.status == 401


# -- charging vault tokens at complete -------------------------------------------


async def ready_session(acp: AcpClient) -> tuple[str, int]:
    reply = await acp.create(create_body(NEW, **address_update(NEW)))
    total = next(t["amount"] for t in reply.body["totals"] if t["type"] == "total")
    return reply.body["id"], total


def pay_with(token: str) -> dict[str, Any]:
    credential = {"type": "spt", "token": token}
    return {
        "payment_data": {
            "handler_id": "card_tokenized",
            "instrument": {"type": "card", "credential": credential},
        }
    }


async def test_vault_token_pays_once(acp: AcpClient, system: ActorSystem) -> None:
    session_id, total = await ready_session(acp)
    token = (await delegate(acp, delegate_body(session_id, total))).body["id"]
    done = await acp.complete(session_id, pay_with(token))
    assert done.status == 200
    assert done.body["status"] == "completed"
    other_id, _ = await ready_session(acp)
    reused = await acp.complete(other_id, pay_with(token))
    assert reused.body["status"] == "ready_for_payment"
    assert "order" not in reused.body
    stored = await system.store.load_vault_token(token)
    assert stored is not None and stored.consumed_by == session_id


@pytest.mark.parametrize(
    ("allowance", "code"),
    [
        ({"max_amount": 1}, "payment_declined"),
        ({"checkout_session_id": "cs_other"}, "invalid"),
        ({"currency": "eur"}, "payment_declined"),
    ],
)
async def test_token_outside_its_allowance_is_declined_and_not_consumed(
    acp: AcpClient, system: ActorSystem, allowance: dict[str, Any], code: str
) -> None:
    session_id, total = await ready_session(acp)
    body = delegate_body(session_id, total)
    body["allowance"].update(allowance)
    token = (await delegate(acp, body)).body["id"]
    reply = await acp.complete(session_id, pay_with(token))
    assert reply.status == 200
    assert reply.body["status"] == "ready_for_payment"
    declined = [m for m in reply.body["messages"] if m.get("code") == code]
    assert declined and declined[0]["param"] == "$.payment_data"
    stored = await system.store.load_vault_token(token)
    assert stored is not None and stored.consumed_by is None


async def test_expired_token_is_declined(acp: AcpClient, system: ActorSystem) -> None:
    session_id, total = await ready_session(acp)
    token_id = (await delegate(acp, delegate_body(session_id, total))).body["id"]
    token = await system.store.load_vault_token(token_id)
    assert token is not None
    await system.store.put_vault_token(replace(token, expires_at=datetime.now(UTC)), None)
    reply = await acp.complete(session_id, pay_with(token_id))
    assert reply.body["status"] == "ready_for_payment"
    assert "payment_declined" in {m.get("code") for m in reply.body["messages"]}


async def test_vault_is_off_in_production_unless_enabled(
    nursery: trio.Nursery, store_factory: StoreFactory
) -> None:
    for enabled, status in ((False, 404), (True, 201)):
        settings = Settings(app_env="production", vault_enabled=enabled)
        system = ActorSystem(settings, store_factory(), load_catalog(settings))
        app = create_app(system)
        async with app.test_app() as test_app:
            reply = await delegate(AcpClient(test_app.test_client()), delegate_body())
        assert reply.status == status
