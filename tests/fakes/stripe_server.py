"""A small fake of the Stripe API, served by hypercorn on a free loopback port
inside the test's own trio run, so the real `stripe` client can be driven
against it (the official stripe-mock is not installable here).

It speaks Stripe's wire format: form-encoded bodies with bracketed keys, JSON
answers, the `{"error": {...}}` shape and status codes the stripe client maps to
its exception classes, and Stripe's idempotency rules (same key and parameters:
the stored answer is replayed; same key, other parameters: 400
`idempotency_error`; same key while the first request runs: 409). Every request
is recorded. Tests script it per token (`outcomes`) and per request (`faults`).
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import trio

from tests.fakes.asgi import Message, Scope, lifespan, read_body, respond, serving

TOKEN_PARAM = "shared_payment_granted_token"


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    params: dict[str, Any]  # nested, as Stripe's bracketed form keys describe
    status: int = 0  # what the fake answered

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")

    @property
    def stripe_version(self) -> str | None:
        return self.headers.get("stripe-version")


@dataclass
class _Stored:
    fingerprint: tuple[str, str, str]
    status: int
    body: dict[str, Any]


@dataclass
class FakeStripe:
    """The fake's state, and its ASGI entry point.

    `outcomes[token]`: "succeeded" (default), "requires_capture",
    "requires_action" (3-D Secure, then succeeds when confirmed with a
    cryptogram), "requires_payment_method", "processing" (succeeds when next
    retrieved) or "decline:<decline_code>" (402 card_error). An intent can be
    canceled unless it succeeded or was canceled already (400
    `payment_intent_unexpected_state`, as Stripe answers).
    `faults`: consumed one per request before it reaches the API: "500" answers
    a 500 and "429" a rate-limit error, neither stored under the idempotency
    key; "hold" keeps the request open until the fake stops (a client timeout).
    """

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    accepted_placement: str | None = None  # None: both placements are understood
    gate: trio.Event | None = None  # when set, every request waits for it to open
    in_flight: int = 0
    max_in_flight: int = 0
    _arrived: trio.Event = field(default_factory=trio.Event)
    _stored: dict[str, _Stored] = field(default_factory=dict)
    _in_flight: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _released: trio.Event = field(default_factory=trio.Event)

    # -- scripting and inspection -------------------------------------------------

    def grant(
        self,
        token: str,
        *,
        max_amount: int | None = None,
        currency: str = "usd",
        expires_at: int | None = None,
        risk_details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Registers a granted token (unknown `spt_` tokens are granted on first use)."""
        self.tokens[token] = {
            "id": token,
            "object": "shared_payment.granted_token",
            "created": int(time.time()),
            "livemode": False,
            "deactivated_at": None,
            "deactivated_reason": None,
            "agent_details": {"network_business_profile": "profile_agent_test"},
            "usage_limits": {
                "currency": currency,
                "max_amount": max_amount,
                "expires_at": expires_at,
            },
            "risk_details": risk_details or {},
            "usage_details": {"amount_captured": {"currency": currency, "value": 0}},
        }
        return self.tokens[token]

    def deactivate(self, token: str, reason: str = "revoked") -> None:
        granted = self.tokens.get(token) or self.grant(token)
        granted["deactivated_at"] = int(time.time())
        granted["deactivated_reason"] = reason

    def calls(self, method: str, path: str) -> list[Recorded]:
        """Recorded requests to one endpoint (`path` may end in `*` for a prefix)."""
        if path.endswith("*"):
            return [r for r in self.requests if r.method == method and r.path.startswith(path[:-1])]
        return [r for r in self.requests if r.method == method and r.path == path]

    def creates(self) -> list[Recorded]:
        return self.calls("POST", "/v1/payment_intents")

    def cancels(self) -> list[Recorded]:
        """Recorded cancels of PaymentIntents (`POST /v1/payment_intents/{id}/cancel`)."""
        return [
            r for r in self.calls("POST", "/v1/payment_intents/*") if r.path.endswith("/cancel")
        ]

    def succeeded(self) -> list[dict[str, Any]]:
        return [pi for pi in self.intents.values() if pi["status"] == "succeeded"]

    async def wait_in_flight(self, count: int) -> None:
        """Returns once `count` requests are open at the fake at the same time."""
        while self.in_flight < count:
            await self._arrived.wait()

    def stop(self) -> None:
        """Lets every held request finish."""
        self._released.set()

    # -- ASGI -----------------------------------------------------------------------

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        body = await read_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        method = scope["method"]
        raw = body.decode() if method == "POST" else scope["query_string"].decode()
        recorded = Recorded(method, scope["path"], headers, parse_form(raw))
        self.requests.append(recorded)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self._arrived.set()
        self._arrived = trio.Event()
        try:
            if self.gate is not None:
                await self.gate.wait()
            status, payload = await self._answer(recorded, raw)
        finally:
            self.in_flight -= 1
        recorded.status = status
        answer_headers = [
            (b"content-type", b"application/json"),
            (b"request-id", f"req_fake_{len(self.requests)}".encode()),
        ]
        await respond(send, status, json.dumps(payload).encode(), answer_headers)

    async def _answer(self, request: Recorded, raw: str) -> tuple[int, dict[str, Any]]:
        if self.faults:
            fault = self.faults.pop(0)
            if fault == "hold":
                await self._released.wait()
                return 503, error("api_error", "The fake was stopped.")
            if fault == "429":
                return 429, error("invalid_request_error", "Too many requests.", code="rate_limit")
            return 500, error("api_error", "An unexpected error occurred (injected).")
        if not request.headers.get("authorization", "").startswith("Bearer sk_"):
            return 401, error("invalid_request_error", "Invalid API Key provided.")
        key = request.idempotency_key
        if request.method != "POST" or key is None:
            return self._route(request)
        fingerprint = (request.method, request.path, raw)
        if key in self._in_flight:
            return 409, error(
                "invalid_request_error",
                "Another request with this idempotency key is in progress.",
                code="idempotency_key_in_use",
            )
        stored = self._stored.get(key)
        if stored is not None:
            if stored.fingerprint != fingerprint:
                return 400, error(
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                )
            return stored.status, stored.body
        self._in_flight.add(key)
        try:
            status, payload = self._route(request)
        finally:
            self._in_flight.discard(key)
        self._stored[key] = _Stored(fingerprint, status, payload)
        return status, payload

    def _route(self, request: Recorded) -> tuple[int, dict[str, Any]]:
        parts = request.path.strip("/").split("/")
        match request.method, parts:
            case "POST", ["v1", "payment_intents"]:
                return self._create(request.params)
            case "POST", ["v1", "payment_intents", intent_id, "confirm"]:
                return self._confirm(intent_id, request.params)
            case "POST", ["v1", "payment_intents", intent_id, "cancel"]:
                return self._cancel(intent_id, request.params)
            case "GET", ["v1", "payment_intents", intent_id]:
                return self._retrieve(intent_id)
            case "GET", ["v1", "shared_payment", "granted_tokens", token]:
                granted = self.tokens.get(token)
                if granted is None:
                    return 404, error(
                        "invalid_request_error",
                        f"No such shared_payment.granted_token: '{token}'",
                        code="resource_missing",
                        param="id",
                    )
                return 200, granted
        return 404, error("invalid_request_error", f"Unrecognized request URL ({request.path}).")

    # -- endpoints --------------------------------------------------------------------

    def _create(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        nested = (params.get("payment_method_data") or {}).get(TOKEN_PARAM)
        top = params.get(TOKEN_PARAM)
        token_param = f"payment_method_data[{TOKEN_PARAM}]" if nested else TOKEN_PARAM
        if (nested and self.accepted_placement == "top_level") or (
            top and self.accepted_placement == "payment_method_data"
        ):
            return 400, error(
                "invalid_request_error",
                f"Received unknown parameter: {token_param}",
                code="parameter_unknown",
                param=token_param,
            )
        token = nested or top
        if not token:
            return 400, error(
                "invalid_request_error",
                "A payment method is required.",
                code="parameter_missing",
                param="payment_method_data",
            )
        if params.get("confirm") != "true":
            return 400, error("invalid_request_error", "The fake only knows confirm=true.")
        amount = int(params["amount"])
        currency = params["currency"]
        granted = self.tokens.get(token) or self.grant(token, currency=currency)
        if granted["deactivated_at"]:
            reason = granted["deactivated_reason"]
            return 400, error(
                "invalid_request_error",
                f"The SharedPaymentGrantedToken {token} is {reason}.",
                code=f"shared_payment_granted_token_{reason}",
                param=token_param,
            )
        max_amount = granted["usage_limits"]["max_amount"]
        if max_amount is not None and amount > max_amount:
            return 400, error(
                "invalid_request_error",
                f"The amount exceeds the usage limit of {token}.",
                code="amount_too_large",
                param="amount",
            )
        intent: dict[str, Any] = {
            "id": f"pi_fake_{next(self._ids)}",
            "object": "payment_intent",
            "amount": amount,
            "currency": currency,
            "status": "requires_confirmation",
            "metadata": params.get("metadata") or {},
            "payment_method": f"pm_fake_clone_{len(self.intents) + 1}",
            "last_payment_error": None,
            "next_action": None,
            "livemode": False,
            "_token": token,  # kept for the fake's own use, never sent
        }
        self.intents[intent["id"]] = intent
        outcome = self.outcomes.get(token, "succeeded")
        if outcome.startswith("decline:"):
            decline_code = outcome.split(":", 1)[1]
            return 402, self._decline(intent, decline_code)
        if outcome == "requires_payment_method":
            self._decline(intent, "generic_decline")
            return 200, _public(intent)
        intent["status"] = outcome
        if outcome == "requires_action":
            intent["next_action"] = {
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {"type": "three_d_secure_redirect"},
            }
        if outcome in ("succeeded", "requires_capture"):
            self.deactivate(token, "consumed")
        return 200, _public(intent)

    def _decline(self, intent: dict[str, Any], decline_code: str) -> dict[str, Any]:
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": decline_code,
            "message": "Your card was declined.",
        }
        return {
            "error": {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": decline_code,
                "message": "Your card was declined.",
                "charge": f"ch_fake_{intent['id']}",
                "payment_intent": _public(intent),
            }
        }

    def _confirm(self, intent_id: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        intent = self.intents.get(intent_id)
        if intent is None:
            return 404, error(
                "invalid_request_error",
                f"No such payment_intent: '{intent_id}'",
                code="resource_missing",
                param="intent",
            )
        if intent["status"] != "requires_action":
            return 400, error(
                "invalid_request_error",
                "This PaymentIntent's status does not allow confirmation.",
                code="payment_intent_unexpected_state",
            )
        three_ds = params.get("payment_method_options", {}).get("card", {}).get("three_d_secure")
        if not three_ds or not all(three_ds.get(k) for k in ("cryptogram", "transaction_id")):
            return 200, _public(intent)  # still waiting for authentication
        intent["status"] = "succeeded"
        intent["next_action"] = None
        self.deactivate(intent["_token"], "consumed")
        return 200, _public(intent)

    def _cancel(self, intent_id: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        intent = self.intents.get(intent_id)
        if intent is None:
            return 404, error(
                "invalid_request_error",
                f"No such payment_intent: '{intent_id}'",
                code="resource_missing",
                param="intent",
            )
        if intent["status"] in ("succeeded", "canceled"):
            return 400, error(
                "invalid_request_error",
                "You cannot cancel this PaymentIntent because it has a status of "
                f"{intent['status']}.",
                code="payment_intent_unexpected_state",
            )
        intent["status"] = "canceled"
        intent["next_action"] = None
        intent["cancellation_reason"] = params.get("cancellation_reason")
        intent["canceled_at"] = int(time.time())
        return 200, _public(intent)

    def _retrieve(self, intent_id: str) -> tuple[int, dict[str, Any]]:
        intent = self.intents.get(intent_id)
        if intent is None:
            return 404, error(
                "invalid_request_error", "No such payment_intent.", code="resource_missing"
            )
        if intent["status"] == "processing":
            intent["status"] = "succeeded"
        return 200, _public(intent)


def _public(intent: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in intent.items() if not k.startswith("_")}


def error(
    kind: str, message: str, *, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """Stripe's error body."""
    body: dict[str, Any] = {"type": kind, "message": message}
    if code is not None:
        body["code"] = code
    if param is not None:
        body["param"] = param
    return {"error": body}


_KEY = re.compile(r"([^\[\]]+)|\[([^\[\]]*)\]")


def parse_form(raw: str) -> dict[str, Any]:
    """`a[b][c]=v` pairs (Stripe's encoding of nested parameters) as nested dicts."""
    params: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        parts = [m.group(1) or m.group(2) for m in _KEY.finditer(key)]
        node = params
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return params


@asynccontextmanager
async def running_fake_stripe() -> AsyncIterator[FakeStripe]:
    """Serves a fresh fake on 127.0.0.1 (a free port) for the body of the block."""
    fake = FakeStripe()
    async with serving(fake) as url:
        fake.url = url
        try:
            yield fake
        finally:
            fake.stop()
