"""The sandbox Delegate Authentication API through the real app, on each store: every
answer checked against `schema.delegate_authentication.json` (2026-04-17), each test
card's flow, and a complete checked against the provider's result."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
import structlog
import trio

from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config.settings import Settings
from agentic_commerce.http.app import create_app
from agentic_commerce.supervisor import load_catalog
from tests import acp_schema
from tests.http.conftest import (
    NEWEST,
    OLDEST,
    AcpClient,
    Reply,
    address_update,
    create_body,
    interventions,
    payment,
)
from tests.http.test_delegate_payment import delegate, delegate_body, edit
from tests.stores import StoreFactory

PATH = "/delegate_authentication"
BUNDLE = acp_schema.DELEGATE_AUTHENTICATION
FRICTIONLESS, CHALLENGE, FAILING, OTHER = (
    "4917610000000000",
    "4000000000003220",
    "4000000000000002",
    "4242424242424242",
)
EXAMPLES = "examples/examples.delegate_authentication.json"


def error_codes() -> set[str]:
    error = acp_schema.raw_schema(NEWEST, BUNDLE)["$defs"]["Error"]
    return set(error["properties"]["code"]["enum"])


async def call(
    client: AcpClient, method: str, path: str, body: Any = None, **headers: str | None
) -> Reply:
    """Send a request; check its answer against the delegate-authentication schema
    (or the checkout Error for codes that Error's closed list lacks)."""
    sent = client.headers(dict(headers), method)
    data = orjson.dumps(body) if body is not None else b""
    if data:
        sent["Content-Type"] = "application/json"
    response = await client._client.open(path, method=method, data=data, headers=sent)
    reply = Reply(response.status_code, orjson.loads(await response.get_data()), response.headers)
    if reply.status < 300:
        definition = "DelegateAuthenticationSession"
        if method == "GET":
            definition = "DelegateAuthenticationSessionWithResult"
        acp_schema.validate_bundle(NEWEST, BUNDLE, definition, reply.body)
    elif reply.body["code"] in error_codes():
        acp_schema.validate_bundle(NEWEST, BUNDLE, "Error", reply.body)
    else:
        acp_schema.assert_error(NEWEST, reply.body)
    return reply


def session_body(number: str, amount: int = 1000, currency: str = "EUR", **extra: Any) -> Any:
    return {
        "merchant_id": "merchant_demo",
        "payment_method": {
            "type": "card",
            "number": number,
            "exp_month": "03",
            "exp_year": "2040",
            "name": "Jane Doe",
        },
        "amount": {"value": amount, "currency": currency},
        **extra,
    }


async def start(client: AcpClient, number: str, **extra: Any) -> Reply:
    return await call(client, "POST", PATH, session_body(number, **extra))


async def authenticate(client: AcpClient, session_id: str, **headers: str | None) -> Reply:
    body = {"fingerprint_completion": "Y"}
    return await call(client, "POST", f"{PATH}/{session_id}/authenticate", body, **headers)


@pytest.mark.parametrize(
    ("number", "created", "action", "answered", "final", "trans_status"),
    [
        (FRICTIONLESS, "action_required", "fingerprint", "authenticated", "authenticated", "Y"),
        (CHALLENGE, "pending", None, "action_required", "authenticated", "Y"),
        (FAILING, "pending", None, "not_authenticated", "not_authenticated", "N"),
    ],
)
async def test_each_test_card_flow(
    acp: AcpClient,
    number: str,
    created: str,
    action: str | None,
    answered: str,
    final: str,
    trans_status: str,
) -> None:
    reply = await start(acp, number)
    assert reply.status == 201
    assert reply.body["status"] == created
    assert reply.body.get("action", {}).get("type") == action
    session_id = reply.body["authentication_session_id"]
    assert (await call(acp, "GET", f"{PATH}/{session_id}")).body["status"] == created
    answer = await authenticate(acp, session_id)
    assert answer.status == 200 and answer.body["status"] == answered
    if number == CHALLENGE:
        assert answer.body["action"]["type"] == "challenge"
    got = await call(acp, "GET", f"{PATH}/{session_id}")
    assert got.status == 200 and got.body["status"] == final
    result = got.body["authentication_result"]
    assert result["trans_status"] == trans_status
    assert ("three_ds_cryptogram" in result) is (final == "authenticated")
    again = await authenticate(acp, session_id)
    assert again.status == 409 and again.body["code"] == "invalid_state"


async def test_other_cards_are_not_supported(acp: AcpClient) -> None:
    reply = await start(acp, OTHER)
    assert reply.status == 201 and reply.body["status"] == "not_supported"
    session_id = reply.body["authentication_session_id"]
    assert (await authenticate(acp, session_id)).status == 409
    got = await call(acp, "GET", f"{PATH}/{session_id}")
    assert got.body == {"authentication_session_id": session_id, "status": "not_supported"}


async def test_spec_examples_replay(acp: AcpClient) -> None:
    examples = json.loads((acp_schema.spec_dir() / NEWEST / EXAMPLES).read_text())
    for name, example in examples.items():  # the spec's own answers fit the schema
        if name.startswith(("create_authentication_session_response", "authenticate_response")):
            acp_schema.validate_bundle(NEWEST, BUNDLE, "DelegateAuthenticationSession", example)
        elif name.startswith("retrieve_session_response"):
            definition = "DelegateAuthenticationSessionWithResult"
            acp_schema.validate_bundle(NEWEST, BUNDLE, definition, example)
    requests = [n for n in examples if n.startswith("create_authentication_session_request")]
    assert requests
    for name in requests:
        body = {**copy.deepcopy(examples[name]), "merchant_id": "merchant_demo"}
        created = await call(acp, "POST", PATH, body)
        assert created.status == 201, name
        assert created.body["status"] == "action_required"  # the spec's card: fingerprint
    for name in (n for n in examples if n.startswith("authenticate_request")):
        session_id = (await start(acp, FRICTIONLESS)).body["authentication_session_id"]
        answer = await call(acp, "POST", f"{PATH}/{session_id}/authenticate", examples[name])
        assert answer.status == 200 and answer.body["status"] == "authenticated", name


async def test_idempotency_replay_and_conflict(acp: AcpClient) -> None:
    first = await call(acp, "POST", PATH, session_body(FRICTIONLESS), **{"Idempotency-Key": "a1"})
    again = await call(acp, "POST", PATH, session_body(FRICTIONLESS), **{"Idempotency-Key": "a1"})
    assert again.status == 201 and again.body == first.body
    assert again.headers["Idempotent-Replayed"] == "true"
    other = session_body(FRICTIONLESS, amount=2000)
    conflict = await call(acp, "POST", PATH, other, **{"Idempotency-Key": "a1"})
    assert conflict.status == 422 and conflict.body["code"] == "idempotency_conflict"
    missing = await call(acp, "POST", PATH, other, **{"Idempotency-Key": None})
    assert missing.status == 400 and missing.body["code"] == "idempotency_key_required"
    session_id = first.body["authentication_session_id"]
    done = await authenticate(acp, session_id, **{"Idempotency-Key": "b1"})
    replayed = await authenticate(acp, session_id, **{"Idempotency-Key": "b1"})
    assert replayed.status == 200 and replayed.body == done.body


async def test_auth_version_and_input_errors(acp: AcpClient) -> None:
    nobody = await call(acp, "POST", PATH, session_body(FRICTIONLESS), Authorization=None)
    assert nobody.status == 401 and nobody.body["code"] == "missing_api_key"
    wrong = await call(acp, "GET", f"{PATH}/auth_x", Authorization="Bearer nope")
    assert wrong.status == 401 and wrong.body["code"] == "invalid_api_key"
    old = await call(acp.using(OLDEST), "POST", PATH, session_body(FRICTIONLESS))
    assert old.status == 404 and old.body["code"] == "not_found"  # no such API in that version
    unknown = await call(acp, "GET", f"{PATH}/auth_unknown")
    assert unknown.status == 404 and unknown.body["code"] == "not_found"
    luhn = await start(acp, "4917610000000001")
    assert luhn.body["code"] == "invalid_card" and luhn.body["param"] == "$.payment_method.number"
    assert "4917610000000001" not in luhn.body["message"]
    other = await call(acp, "POST", PATH, {**session_body(FRICTIONLESS), "merchant_id": "m_x"})
    assert other.status == 400 and other.body["param"] == "$.merchant_id"
    bad = await call(acp, "POST", f"{PATH}/auth_x/authenticate", {"fingerprint_completion": "X"})
    assert bad.status == 400 and bad.body["param"] == "$.fingerprint_completion"


async def test_off_in_production_unless_the_vault_is_enabled(
    nursery: trio.Nursery, store_factory: StoreFactory
) -> None:
    for enabled, status in ((False, 404), (True, 201)):
        settings = Settings(app_env="production", vault_enabled=enabled)
        system = ActorSystem(settings, store_factory(), load_catalog(settings))
        app = create_app(system)
        async with app.test_app() as test_app:
            reply = await start(AcpClient(test_app.test_client()), FRICTIONLESS)
        assert reply.status == status


async def paying_session(acp: AcpClient, number: str) -> tuple[str, int, str]:
    """A 2026-04-17 session that declared 3-D Secure, its total, and a vault token of
    `number` whose complete left it `authentication_required`."""
    body = create_body(NEWEST, **interventions(NEWEST, ["3ds"]), **address_update(NEWEST))
    created = await acp.create(body)
    session_id = created.body["id"]
    total = next(t["amount"] for t in created.body["totals"] if t["type"] == "total")
    vault_body = edit(delegate_body(session_id, total), "payment_method.number", number)
    token = (await delegate(acp, vault_body)).body["id"]
    waiting = await acp.complete(session_id, payment(NEWEST, token))
    assert waiting.body["status"] == "authentication_required"
    return session_id, total, token


async def authenticated_result(acp: AcpClient, number: str, session_id: str, total: int) -> Any:
    """Run the provider's flow for `number` and return the checkout result it supports."""
    reply = await start(acp, number, amount=total, currency="USD", checkout_session_id=session_id)
    auth_id = reply.body["authentication_session_id"]
    await authenticate(acp, auth_id)
    result = (await call(acp, "GET", f"{PATH}/{auth_id}")).body["authentication_result"]
    return {
        "outcome": "authenticated",
        "outcome_details": {
            "three_ds_cryptogram": result["three_ds_cryptogram"],
            "electronic_commerce_indicator": result["electronic_commerce_indicator"],
            "transaction_id": result["transaction_id"],
            "version": result["version"],
        },
    }


async def complete(acp: AcpClient, session_id: str, token: str, result: Any) -> Reply:
    return await acp.complete(
        session_id, {**payment(NEWEST, token), "authentication_result": result}
    )


@pytest.mark.parametrize("number", [FRICTIONLESS, CHALLENGE])
async def test_a_genuine_result_completes_the_checkout(acp: AcpClient, number: str) -> None:
    session_id, total, token = await paying_session(acp, number)
    result = await authenticated_result(acp, number, session_id, total)
    done = await complete(acp, session_id, token, result)
    assert done.status == 200 and done.body["status"] == "completed"


async def test_forged_or_mismatched_results_are_refused(acp: AcpClient) -> None:
    session_id, total, token = await paying_session(acp, CHALLENGE)
    genuine = await authenticated_result(acp, CHALLENGE, session_id, total)
    forged = copy.deepcopy(genuine)
    forged["outcome_details"]["three_ds_cryptogram"] = "AbCdEfGhIjKlMnOpQrStUvWxY0="
    made_up = copy.deepcopy(genuine)
    made_up["outcome_details"]["transaction_id"] = "dsTransId_abc123"
    other_card = await authenticated_result(acp, FRICTIONLESS, session_id, total)
    other_id, other_total, _ = await paying_session(acp, CHALLENGE)
    other_session = await authenticated_result(acp, CHALLENGE, other_id, other_total)
    for claim in (forged, made_up, other_card, other_session):
        refused = await complete(acp, session_id, token, claim)
        assert refused.status == 400, claim
        assert refused.body["code"] == "invalid_authentication_result"
        assert refused.body["param"] == "$.authentication_result"
        assert (await acp.get(session_id)).body["status"] == "authentication_required"
    done = await complete(acp, session_id, token, genuine)
    assert done.body["status"] == "completed"


async def test_a_failed_authentication_cannot_be_claimed_as_success(acp: AcpClient) -> None:
    session_id, total, token = await paying_session(acp, FAILING)
    reply = await start(acp, FAILING, amount=total, currency="USD", checkout_session_id=session_id)
    auth_id = reply.body["authentication_session_id"]
    await authenticate(acp, auth_id)
    result = (await call(acp, "GET", f"{PATH}/{auth_id}")).body["authentication_result"]
    claim = {
        "outcome": "authenticated",
        "outcome_details": {
            "three_ds_cryptogram": "AbCdEfGhIjKlMnOpQrStUvWxY0=",
            "electronic_commerce_indicator": "05",
            "transaction_id": result["transaction_id"],
            "version": "2.2.0",
        },
    }
    refused = await complete(acp, session_id, token, claim)
    assert refused.status == 400 and refused.body["code"] == "invalid_authentication_result"
    denied = await complete(acp, session_id, token, {"outcome": "denied"})
    assert denied.body["status"] == "ready_for_payment"


async def test_no_card_number_reaches_the_logs(acp: AcpClient) -> None:
    with structlog.testing.capture_logs() as logs:
        session_id, total, token = await paying_session(acp, CHALLENGE)
        result = await authenticated_result(acp, CHALLENGE, session_id, total)
        await start(acp, "4917610000000001")  # refused: its number is not echoed either
        assert (await complete(acp, session_id, token, result)).body["status"] == "completed"
    text = repr(logs)
    assert logs and CHALLENGE not in text and "4917610000000001" not in text
