"""`POST /agentic_commerce/delegate_payment`: the sandbox PSP vault.

It lets agent developers test end to end: a card is checked and replaced by a
single-use `vt_` token bound to one checkout session, merchant, currency and
maximum amount. The card number and CVC are never kept (see `domain/vault.py`).
Real card data puts a deployment in PCI scope, so in production the endpoint is
off unless `VAULT_ENABLED=true`.

Errors use the delegate-payment Error schema, whose code list is closed: card
problems are `invalid_card`; problems its list has no code for (other fields,
401, 413, 415, versions) use the checkout Error shape with its free codes.
"""

from __future__ import annotations

import secrets
from datetime import datetime

import orjson
import pycountry
from quart import Quart, Response, request

from agentic_commerce.actors.clock import SystemClock
from agentic_commerce.config.settings import Settings
from agentic_commerce.domain import delegate_authentication, vault
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.http.context import Gate
from agentic_commerce.http.psp import (
    card_error,
    check_expiry,
    check_number,
    enter,
    parse_card_request,
)
from agentic_commerce.protocol.base import Body, timestamp
from agentic_commerce.protocol.delegate_payment import MODELS, DelegatePaymentRequest
from agentic_commerce.store.base import Answer, Store

PATH = "/agentic_commerce/delegate_payment"
CARD_PARAM = "$.payment_method"


def _check_card(body: DelegatePaymentRequest, now: datetime) -> tuple[int | None, int | None]:
    card = body.payment_method
    check_number(card.number, CARD_PARAM, luhn=card.card_number_type == "fpan")
    if card.cvc is not None and not (card.cvc.isdigit() and 3 <= len(card.cvc) <= 4):
        raise card_error("The CVC must be 3 or 4 digits.", f"{CARD_PARAM}.cvc")
    if (card.exp_month is None) != (card.exp_year is None):
        raise card_error("Send both exp_month and exp_year.", f"{CARD_PARAM}.exp_month")
    if card.exp_month is None or card.exp_year is None:
        return None, None
    return check_expiry(card.exp_month, card.exp_year, now, CARD_PARAM)


def _check_allowance(body: DelegatePaymentRequest, psp_account: str, now: datetime) -> None:
    allowance = body.allowance
    if allowance.max_amount <= 0:
        raise RequestRejected(
            "invalid_allowance", "max_amount must be positive.", "$.allowance.max_amount"
        )
    if pycountry.currencies.get(alpha_3=allowance.currency.upper()) is None:
        raise RequestRejected(
            "invalid_allowance", "currency must be an ISO 4217 code.", "$.allowance.currency"
        )
    if allowance.expires_at.tzinfo is None or allowance.expires_at <= now:
        raise RequestRejected(
            "invalid_allowance",
            "expires_at must be a future RFC 3339 time with an offset.",
            "$.allowance.expires_at",
        )
    if not allowance.checkout_session_id.strip():
        raise RequestRejected(
            "invalid_allowance",
            "checkout_session_id is required.",
            "$.allowance.checkout_session_id",
        )
    if allowance.merchant_id != psp_account:
        raise RequestRejected(
            "invalid_allowance",
            "merchant_id is not this merchant's PSP account.",
            "$.allowance.merchant_id",
        )
    for index, signal in enumerate(body.risk_signals):
        if signal.action == "blocked":
            raise card_error(
                "The payment method was blocked by a risk signal.", f"$.risk_signals[{index}]"
            )


class Vault:
    """Turns a delegate-payment request into a stored token and its response."""

    def __init__(self, store: Store, settings: Settings, clock: SystemClock, secret: bytes) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.secret = secret

    async def tokenize(
        self, version: str, sent: Body, merchant_id: str, key: str | None, answer: Answer | None
    ) -> bytes:
        body = parse_card_request(MODELS[version], sent, CARD_PARAM)
        now = self.clock.now()
        exp_month, exp_year = _check_card(body, now)
        _check_allowance(body, self.settings.psp_account(merchant_id), now)
        card, allowance = body.payment_method, body.allowance
        token = vault.VaultToken(
            id=f"vt_{secrets.token_hex(16)}",
            merchant_id=merchant_id,
            checkout_session_id=allowance.checkout_session_id,
            max_amount=allowance.max_amount,
            currency=allowance.currency,
            expires_at=allowance.expires_at,
            created_at=now,
            brand=card.display_brand or vault.brand_of(card.number),
            last4=card.number[-4:],
            exp_month=exp_month,
            exp_year=exp_year,
            funding=card.display_card_funding_type,
            card_fingerprint=vault.fingerprint(self.secret, card.number),
            metadata=dict(body.metadata),
            three_ds=delegate_authentication.asks_for_authentication(card.number),
        )
        metadata = {**body.metadata, "merchant_id": allowance.merchant_id}
        if key is not None:
            metadata["idempotency_key"] = key
        response = orjson.dumps({"id": token.id, "created": timestamp(now), "metadata": metadata})
        record = answer.record(response) if answer is not None else None
        await self.store.put_vault_token(token, record)
        return response


def register_delegate_payment(app: Quart, vault_service: Vault, gate: Gate) -> None:
    @app.post(PATH)
    async def delegate_payment() -> Response:
        who, sent = await enter(gate)
        key = request.headers.get("Idempotency-Key") or None

        async def call(answer: Answer | None) -> bytes:
            return await vault_service.tokenize(
                who.codec.version, sent, who.merchant_id, key, answer
            )

        return await gate.post(who, sent, f"vault-{who.merchant_id}", 201, bytes, call)
