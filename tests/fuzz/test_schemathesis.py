"""Fuzz the real server process with schemathesis, from the vendored 2026-04-17 OpenAPI files.

Every operation of ``openapi.agentic_checkout.yaml`` and ``openapi.delegate_payment.yaml``
gets generated requests (valid and invalid bodies and path parameters: the spec's examples
and hypothesis-generated cases), always sent with a valid API key, API version,
``Content-Type`` and a fresh ``Idempotency-Key``.  Whatever is sent, the server must never
answer 5xx, must answer JSON, and every body must be valid against the ACP JSON Schema of
the version (``tests/acp_schema.py``: the OpenAPI files' own response schemas are
defective, acp-spec SUMMARY §14).

Random session ids mostly get 404s, so half of the generated session ids are swapped for
a real session created for each test; half of the create, complete and delegate-payment
bodies get the few values that let them through (catalog items and currency, the card
handler and a payment token, a valid card and allowance), the rest as generated.

``FUZZ_EXAMPLES`` (default 25) is the number of generated examples per operation;
``FUZZ_COVERAGE=1`` adds schemathesis' coverage phase.  ``scripts/fuzz`` runs both, long.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from agentic_commerce import metrics
from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config.settings import Settings
from agentic_commerce.http.app import create_app
from agentic_commerce.http.mcp.endpoint import MCP_PATH
from agentic_commerce.store.memory import MemoryStore
from agentic_commerce.supervisor import load_catalog
from tests import acp_schema
from tests.e2e.server import running_server

VERSION = "2026-04-17"
API_KEY = "api_key_demo_123"
PSP_ACCOUNT = "merchant_demo"  # the demo key's merchant, its own PSP account by default
OPENAPI = Path(__file__).resolve().parents[2] / "spec" / "acp-spec" / VERSION / "openapi"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
# Schemathesis' coverage phase (boundary and invalid values of every field, a few thousand
# requests whatever FUZZ_EXAMPLES says): on in the long fuzz only.
COVERAGE = os.environ.get("FUZZ_COVERAGE", "0") == "1"

# The codes of the delegate-payment Error's closed list; other errors of that endpoint
# use the checkout Error (README, "The sandbox vault").
DELEGATE_ERROR_CODES = frozenset(
    {
        "invalid_card",
        "duplicate_request",
        "idempotency_conflict",
        "too_many_requests",
        "idempotency_key_required",
        "idempotency_in_flight",
    }
)
CATALOG_ITEMS = ("item_123", "laptop_pro_16_inch", "test", "ebook_python_guide", "usb_c_cable")
ADDRESS = {
    "name": "Jane Doe",
    "line_one": "1 Market St",
    "city": "San Francisco",
    "state": "CA",
    "country": "US",
    "postal_code": "94105",
}
# Charged, declined, 3-D Secure, Stripe (not configured), unknown vault token; not
# `tok_test_unavailable`, whose documented answer is a 502.
PAYMENT_TOKENS = (
    "tok_test_ok",
    "tok_test_decline",
    "tok_test_insufficient_funds",
    "tok_test_3ds",
    "spt_fuzz",
    "vt_fuzz",
)
# Stands for the real session in generated path parameters (see `session_ids`).
LIVE_SESSION = "__live_session__"

checkout = schemathesis.openapi.from_path(OPENAPI / "openapi.agentic_checkout.yaml")
delegate = schemathesis.openapi.from_path(OPENAPI / "openapi.delegate_payment.yaml")
for loaded in (checkout, delegate):
    loaded.config.phases.coverage.enabled = COVERAGE
    # OPTIONS gets the framework's automatic `200 Allow: ...` with no body: plain HTTP, not
    # an ACP answer.  Every other unexpected method must be a JSON 405.
    loaded.config.phases.coverage.unexpected_methods = {
        "get",
        "put",
        "post",
        "delete",
        "patch",
        "trace",
        "query",
    }

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    # `live_session` is function scoped on purpose: one fresh session per operation,
    # shared by that operation's examples.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)


# --------------------------------------------------------------------------- generation hooks


@checkout.hook("before_generate_path_parameters")
def session_ids(
    context: schemathesis.HookContext, strategy: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Half of the session ids: the real session (its id is only known at run time)."""
    operation = context.operation
    if operation is None or "{checkout_session_id}" not in operation.path:
        return strategy
    live = {"checkout_session_id": LIVE_SESSION}
    return st.one_of(strategy, strategy.map(lambda params: {**(params or {}), **live}))


@checkout.hook("before_generate_body")
def checkout_bodies(
    context: schemathesis.HookContext, strategy: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Half of the create bodies get catalog items and currency; half of the complete
    bodies get the session's card handler and a payment token."""
    operation = context.operation
    path = operation.path if operation is not None else None
    if path == "/checkout_sessions":
        return st.one_of(strategy, strategy.flatmap(_with_catalog_items))
    if path == "/checkout_sessions/{checkout_session_id}/complete":
        return st.one_of(strategy, strategy.flatmap(_with_payment_token))
    return strategy


def _with_catalog_items(body: Any) -> st.SearchStrategy[Any]:
    if not isinstance(body, dict):
        return st.just(body)
    items = body.get("line_items")
    if not isinstance(items, list):
        return st.just({**body, "currency": "usd"})
    ids = st.lists(st.sampled_from(CATALOG_ITEMS), min_size=len(items), max_size=len(items))
    return ids.map(
        lambda chosen: {
            **body,
            "currency": "usd",
            "line_items": [
                {**item, "id": item_id} if isinstance(item, dict) else item
                for item, item_id in zip(items, chosen, strict=True)
            ],
        }
    )


def _with_payment_token(body: Any) -> st.SearchStrategy[Any]:
    if not isinstance(body, dict):
        return st.just(body)
    payment_data = body.get("payment_data")
    payment_data = payment_data if isinstance(payment_data, dict) else {}
    return st.sampled_from(PAYMENT_TOKENS).map(
        lambda token: {
            **body,
            "payment_data": {
                **payment_data,
                "handler_id": "card_tokenized",
                "instrument": {"type": "card", "credential": {"type": "spt", "token": token}},
            },
        }
    )


@delegate.hook("before_generate_body")
def delegate_bodies(
    context: schemathesis.HookContext, strategy: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Half of the bodies: a valid card and allowance over the generated rest."""
    return st.one_of(strategy, strategy.map(_with_valid_card))


def _with_valid_card(body: Any) -> Any:
    if not isinstance(body, dict):
        return body
    card = body.get("payment_method")
    allowance = body.get("allowance")
    return {
        **body,
        "payment_method": {
            **(card if isinstance(card, dict) else {}),
            "type": "card",
            "card_number_type": "fpan",
            "number": "4242424242424242",
            "exp_month": "12",
            "exp_year": "2099",
            "cvc": "123",
        },
        "allowance": {
            **(allowance if isinstance(allowance, dict) else {}),
            "reason": "one_time",
            "max_amount": 10000,
            "currency": "usd",
            "checkout_session_id": "cs_fuzz",
            "merchant_id": PSP_ACCOUNT,
            "expires_at": "2099-01-01T00:00:00Z",
        },
    }


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    # A rate limit the fuzzer cannot reach: a 429 would hide everything behind it.
    with running_server(RATE_LIMIT_PER_MINUTE="1000000", RATE_LIMIT_BURST="1000000") as server:
        yield server.base_url


@pytest.fixture
def live_session(base_url: str) -> str:
    """A fresh session, ready for payment (it has an address), for one operation's examples."""
    response = httpx.post(
        f"{base_url}/checkout_sessions",
        headers=_headers(),
        json={
            "currency": "usd",
            "capabilities": {},
            "line_items": [{"id": "item_123", "quantity": 2}],
            "fulfillment_details": {"name": "Jane Doe", "address": ADDRESS},
        },
        timeout=30,
    )
    assert response.status_code == 201, response.text
    session_id = response.json()["id"]
    assert isinstance(session_id, str)
    return session_id


# --------------------------------------------------------------------------- the tests


@checkout.parametrize()
@FUZZ_SETTINGS
def test_checkout_api(case: schemathesis.Case[Any], base_url: str, live_session: str) -> None:
    if case.path_parameters and case.path_parameters.get("checkout_session_id") == LIVE_SESSION:
        case.path_parameters["checkout_session_id"] = live_session
    response = _call(case, base_url)
    body = _json_body(response)
    if 200 <= response.status_code < 300:
        _check(lambda: acp_schema.assert_checkout_session(VERSION, body), response)
    else:
        _check(lambda: acp_schema.assert_error(VERSION, body), response)


@delegate.parametrize()
@FUZZ_SETTINGS
def test_delegate_payment_api(case: schemathesis.Case[Any], base_url: str) -> None:
    response = _call(case, base_url)
    body = _json_body(response)
    if response.status_code == 201:
        _check(
            lambda: acp_schema.assert_delegate_payment(VERSION, "DelegatePaymentResponse", body),
            response,
        )
    elif isinstance(body, dict) and body.get("code") in DELEGATE_ERROR_CODES:
        _check(lambda: acp_schema.assert_delegate_payment(VERSION, "Error", body), response)
    else:
        _check(lambda: acp_schema.assert_error(VERSION, body), response)


# --------------------------------------------------------------------------- helpers


def _headers() -> dict[str, str]:
    return {
        "Authorization": f"Bearer {API_KEY}",
        "API-Version": VERSION,
        "Idempotency-Key": str(uuid.uuid4()),
        "Content-Type": "application/json",
    }


def _call(case: schemathesis.Case[Any], base_url: str) -> schemathesis.Response:
    # Set on the case rather than passed to `call`: schemathesis drops a required header
    # that a negative case "removes" even when it is passed to `call`; only the body and
    # parameters are fuzzed here, the credentials and version are always valid.
    case.headers.update(_headers())
    response = case.call(base_url=base_url, timeout=30)
    assert response.status_code < 500, _describe(response, "server error")
    return response


def _json_body(response: schemathesis.Response) -> Any:
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), _describe(response, "not JSON")
    try:
        return json.loads(response.content)
    except ValueError:
        raise AssertionError(_describe(response, "invalid JSON body")) from None


def _check(validate: Callable[[], None], response: schemathesis.Response) -> None:
    try:
        validate()
    except AssertionError as error:
        raise AssertionError(_describe(response, str(error))) from None


def _describe(response: schemathesis.Response, problem: str) -> str:
    """The request (without the API key) and the answer, to reproduce a failure."""
    request = response.request
    headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    body = request.body
    sent = body.decode(errors="replace") if isinstance(body, bytes) else body
    return (
        f"{problem}\n"
        f"request: {request.method} {request.url}\n"
        f"headers: {headers}\n"
        f"body: {sent}\n"
        f"response: {response.status_code} {response.content.decode(errors='replace')}"
    )


# --------------------------------------------------------------------------- after the run

# What a request may try, to mint label values: odd methods, ids, versions and keys.
HOSTILE = (
    ("BREWCOFFEE", "/checkout_sessions", {}),
    ("GET", f"/checkout_sessions/cs_{'x' * 120}", {}),
    ("POST", "/checkout_sessions/../../etc", {}),
    ("GET", "/no/such/route/cs_123", {}),
    ("POST", "/checkout_sessions", {"API-Version": "1999-01-01"}),
    ("POST", "/checkout_sessions", {"Authorization": "Bearer guessed_key_0001"}),
    ("PATCH", "/mcp", {}),
    ("GET", "/feeds/feed_unknown/products", {}),
)


def allowed_labels() -> dict[str, frozenset[str]]:
    """Every value each label may take: the app's route templates, the constants of
    `metrics`, the catalog's products and currency, the processors."""
    settings = Settings()
    catalog = load_catalog(settings)
    app = create_app(ActorSystem(settings, MemoryStore(), catalog))
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    return {
        "route": frozenset({*rules, "unmatched", MCP_PATH}),
        "method": frozenset({*metrics.HTTP_METHODS, "OTHER"}),
        "operation": frozenset(metrics.CHECKOUT_OPERATIONS),
        "transport": frozenset(metrics.TRANSPORTS),
        "outcome": frozenset(
            {*metrics.OPERATION_OUTCOMES, *metrics.PAYMENT_OUTCOMES, *metrics.WEBHOOK_OUTCOMES}
        ),
        "event": frozenset({*metrics.SESSION_EVENTS, *metrics.WEBHOOK_EVENTS}),
        "kind": frozenset({*metrics.ACTOR_KINDS, "feeds"}),
        "currency": frozenset({catalog.currency}),
        "product": frozenset(product.id for product in catalog),
        "processor": frozenset({"simulated", "stripe", "vault"}),
        "state": frozenset({"pending", "dead", "reserved", "available"}),
        "result": frozenset(metrics.IDEMPOTENCY_RESULTS),
        "reason": frozenset({*metrics.AUTH_REASONS, *metrics.FEED_PUSH_FAILURE_REASONS}),
    }


def test_metric_labels_stay_bounded(base_url: str) -> None:
    """Last in the module: after every generated request above (and these hostile
    ones), each label of each series still takes one of its few known values."""
    for method, path, headers in HOSTILE:
        httpx.request(method, f"{base_url}{path}", headers={**_headers(), **headers}, timeout=30)
    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    assert "_created" not in text
    allowed = allowed_labels()
    series = re.findall(r"^(acs_[a-z_]+)\{(.*)\} ", text, re.MULTILINE)
    assert series
    for name, labels in series:
        for label, value in re.findall(r'([a-z_]+)="([^"]*)"', labels):
            if label == "le":  # a histogram's bucket bounds
                assert value == "+Inf" or float(value) > 0, (name, value)
            elif label == "status":
                assert re.fullmatch(r"[1-5]\d\d", value), (name, value)
            else:
                assert value in allowed[label], (name, label, value)
    assert len(series) < 2000
