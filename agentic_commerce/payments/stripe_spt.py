"""Stripe Shared Payment Tokens (`spt_…`): each token is charged with one confirmed
PaymentIntent on the merchant's own Stripe account.

The Stripe idempotency key is derived from the session and the token
(`ChargeRequest.idempotency_key`), so a retried or concurrent complete, or a
network retry inside the stripe client, can never make a second PaymentIntent.

A PaymentIntent that waits for 3-D Secure (`requires_action`) is confirmed only
with a successful authentication result, and is canceled (`void`) when the
session's cart or amount changes: see `StripeProcessor.void` for what happens
when Stripe cannot cancel it.

Tokens and the secret key are secrets: no message, log line or exception this
module produces contains them. Stripe's own error messages may quote the token,
so they are never passed on; a logging filter also redacts tokens and keys from
the `stripe` and `httpx` loggers, which print request URLs (a granted-token
lookup has the token in its path) and, at DEBUG, request bodies.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import quote

import stripe
import structlog
import trio
from stripe.params import (
    PaymentIntentCancelParams,
    PaymentIntentConfirmParams,
    PaymentIntentCreateParams,
)

from agentic_commerce.config.settings import Settings
from agentic_commerce.domain.commands import PaymentCredential
from agentic_commerce.domain.model import Payment
from agentic_commerce.payments.base import (
    Charged,
    ChargeRequest,
    Declined,
    NeedsAuthentication,
    NotVoided,
    PaymentOutcome,
    PaymentUnavailable,
    Processor,
    Voided,
    VoidOutcome,
    authenticated,
    token_digest,
)
from agentic_commerce.payments.stripe_http import TracedHTTPXClient
from agentic_commerce.payments.stripe_unconfigured import NAME, TOKEN_PREFIX

log = structlog.get_logger("agentic_commerce.payments.stripe")

TOKEN_SHAPE = re.compile(r"spt_[A-Za-z0-9_]{1,250}")
PLACEMENTS = ("payment_method_data", "top_level")
TOKEN_PARAM = "shared_payment_granted_token"
MAX_NETWORK_RETRIES = 2  # retried with the same idempotency key, by the stripe client
RETRY_SLEEP_SECONDS = 1.5  # the stripe client's back-off before two retries, at most

GENERIC_DECLINE = "The card was declined."
# Fixed texts, safe to show the buyer. Stripe advises not to reveal fraud-related
# reasons (lost/stolen/fraudulent), so those fall back to the generic text.
DECLINE_MESSAGES: dict[str, str] = {
    "insufficient_funds": "The card has insufficient funds.",
    "expired_card": "The card has expired.",
    "incorrect_cvc": "The card's security code is incorrect.",
    "invalid_cvc": "The card's security code is incorrect.",
    "incorrect_number": "The card number is incorrect.",
    "invalid_number": "The card number is incorrect.",
    "invalid_expiry_month": "The card's expiration date is invalid.",
    "invalid_expiry_year": "The card's expiration date is invalid.",
    "card_velocity_exceeded": "The card has exceeded its limit; try another card.",
    "withdrawal_count_limit_exceeded": "The card has exceeded its limit; try another card.",
    "card_not_supported": "The card does not support this purchase.",
    "currency_not_supported": "The card does not support this currency.",
    "authentication_required": "The card issuer requires authentication; try another card.",
    "processing_error": "An error occurred while processing the card; try again.",
    "try_again_later": "The card issuer could not be reached; try again.",
}
TOKEN_EXPIRED = "The payment token has expired; request a new one."
TOKEN_USED = "The payment token can no longer be used; request a new one."
TOKEN_AMOUNT = "The payment token does not cover this purchase; request a new one."
TOKEN_UNUSABLE = "The payment token cannot be used for this purchase; request a new one."
TOKEN_REUSED = "The payment token was already used for a different purchase; request a new one."
TOKEN_RISK = "The payment was declined."
AUTHENTICATION_INCOMPLETE = "The 3-D Secure result lacks its cryptogram, transaction id or version."
AUTHENTICATION_REFUSED = "3-D Secure authentication was not accepted; try another card."
PAYMENT_VOIDED = "The payment awaiting 3-D Secure was voided; request a new token."
UNAVAILABLE = "Stripe is unavailable; retry shortly."
MISCONFIGURED = "Stripe refused the request: the merchant's Stripe configuration needs attention."

# A 400 with one of these codes is our request's fault (often a token placement
# or API version that does not match the account), not the token's.
CONFIGURATION_CODES = frozenset(
    {"parameter_unknown", "parameter_missing", "api_version_invalid", "secret_key_required"}
)
UNEXPECTED_STATE = "payment_intent_unexpected_state"
INTENT_PREFIX = "pi_"
# PaymentIntent statuses in which money moved (or is authorized, or on its way).
CHARGED_STATUSES = frozenset({"succeeded", "requires_capture", "processing"})
# ACP authentication outcome to the ARes `transStatus` Stripe asks for.
ARES_TRANS_STATUS = {"authenticated": "Y", "attempt_acknowledged": "A"}

_SECRETS = re.compile(r"\b(spt|sk|rk)_[A-Za-z0-9_]+")


class _RedactSecrets(logging.Filter):
    """Rewrites log records of third-party loggers with tokens and keys masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _SECRETS.search(message):
            record.msg = _SECRETS.sub(r"\1_[redacted]", message)
            record.args = None
        return True


def _install_redaction() -> None:
    for name in ("stripe", "httpx"):  # the loggers that print URLs and bodies
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactSecrets) for f in logger.filters):
            logger.addFilter(_RedactSecrets())
    if "debug" in (str(stripe.log).lower(), os.environ.get("STRIPE_LOG", "").lower()):
        # stripe prints request bodies to stderr itself, past any logging filter.
        log.warning("stripe_debug_log", detail="STRIPE_LOG=debug prints payment tokens")


class StripeProcessor(Processor):
    """Charges `spt_` tokens through Stripe's PaymentIntents API."""

    name = NAME

    def __init__(
        self,
        secret_key: str,
        *,
        api_base: str | None = None,
        api_version: str | None = None,
        token_placement: str = "payment_method_data",
        risk_check: bool = False,
        max_concurrency: int = 16,
        request_timeout: float = 10.0,
        max_network_retries: int = MAX_NETWORK_RETRIES,
    ) -> None:
        if token_placement not in PLACEMENTS:
            raise ValueError(f"token_placement must be one of {', '.join(PLACEMENTS)}")
        _install_redaction()
        self.token_placement = token_placement
        self.risk_check = risk_check
        self.limiter = trio.CapacityLimiter(max_concurrency)
        self._http = TracedHTTPXClient(timeout=request_timeout)
        self._client = stripe.StripeClient(
            secret_key,
            http_client=self._http,
            base_addresses={"api": api_base} if api_base else None,
            stripe_version=api_version,
            max_network_retries=max_network_retries,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeProcessor:
        """Each network attempt gets a share of the payment timeout, so the first
        try, its retries and the stripe client's back-off sleeps fit inside the
        payment actor's deadline."""
        if not settings.stripe_secret_key:
            raise ValueError("STRIPE_SECRET_KEY is not set")
        attempts = 1 + MAX_NETWORK_RETRIES
        budget = settings.payment_timeout_seconds - RETRY_SLEEP_SECONDS
        return cls(
            settings.stripe_secret_key,
            api_base=settings.stripe_api_base,
            api_version=settings.stripe_api_version,
            token_placement=settings.stripe_token_placement,
            risk_check=settings.stripe_risk_check,
            max_concurrency=settings.stripe_max_concurrency,
            request_timeout=max(1.0, budget / attempts),
        )

    def accepts(self, credential: PaymentCredential) -> bool:
        return credential.token.startswith(TOKEN_PREFIX)

    def owns(self, reference: str) -> bool:
        return reference.startswith(INTENT_PREFIX)

    async def void(self, reference: str) -> VoidOutcome:
        """Cancel the PaymentIntent `reference` that waits for 3-D Secure.

        `Voided` when Stripe canceled it, now or before, or does not know it
        (no one can confirm it then). When Stripe cannot cancel it because it
        was confirmed meanwhile (a confirm whose answer was lost), it is
        `NotVoided`: money moved, and the session keeps the reference so that
        the next complete finds the charge and places its order. Stripe being
        unreachable (or refusing our keys) raises `PaymentUnavailable`: the
        intent's state is unknown, so the session keeps the reference too and
        answers a retryable 5xx; dropping it could lose a charge that went through.
        """
        params: dict[str, Any] = {"cancellation_reason": "abandoned"}
        try:
            async with self.limiter:
                await self._client.v1.payment_intents.cancel_async(
                    reference,
                    cast(PaymentIntentCancelParams, params),
                    {"idempotency_key": f"acp-void-{reference}"},
                )
        except stripe.StripeError as exc:
            failure = exc
        else:
            return Voided()
        code = _error_code(failure)
        if isinstance(failure, stripe.InvalidRequestError):
            if code == UNEXPECTED_STATE:
                return await self._void_state(reference)
            if code == "resource_missing":
                log.warning("stripe_void_unknown_intent", request_id=failure.request_id)
                return Voided()
        log.warning(
            "stripe_void_failed",
            error=type(failure).__name__,
            code=code,
            http_status=failure.http_status,
            request_id=failure.request_id,
        )
        raise PaymentUnavailable(UNAVAILABLE)

    async def _void_state(self, reference: str) -> VoidOutcome:
        """Why Stripe would not cancel: the intent is canceled already, or charged."""
        try:
            async with self.limiter:
                intent = await self._client.v1.payment_intents.retrieve_async(reference)
            status = intent.status
        except stripe.StripeError as exc:
            log.warning("stripe_void_failed", error=type(exc).__name__, request_id=exc.request_id)
            status = None
        if status is None:
            raise PaymentUnavailable(UNAVAILABLE)
        if status == "canceled":
            return Voided()
        if status in CHARGED_STATUSES:
            log.error("stripe_void_after_charge", status=status)
            return NotVoided(f"payment_intent_{status}")
        log.warning("stripe_void_unexpected_status", status=status)
        raise PaymentUnavailable(UNAVAILABLE)

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def charge(self, request: ChargeRequest) -> PaymentOutcome:
        if not TOKEN_SHAPE.fullmatch(request.credential.token):
            # The agent's token goes into a URL path for the risk check.
            return Declined("malformed_token", TOKEN_UNUSABLE, "invalid")
        try:
            if request.pending is not None and request.authentication:
                return await self._confirm_authenticated(
                    request, request.pending, request.authentication
                )
            if self.risk_check:
                refused = await self._check_token(request)
                if refused is not None:
                    return refused
            return await self._create(request)
        except stripe.StripeError as exc:
            failure = exc
        # Mapped outside the handler, so that a raised PaymentUnavailable does not
        # carry Stripe's error (whose message may quote the token) as its context.
        return self._error_outcome(failure, request)

    async def _create(self, request: ChargeRequest) -> PaymentOutcome:
        """One `POST /v1/payment_intents`, created and confirmed at once."""
        params: dict[str, Any] = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "confirm": True,
            "metadata": {
                "checkout_session_id": request.session_id,
                "order_id": request.order_id,
                "merchant_id": request.merchant_id,
            },
        }
        if self.token_placement == "top_level":
            params[TOKEN_PARAM] = request.credential.token
        else:
            params["payment_method_data"] = {TOKEN_PARAM: request.credential.token}
        async with self.limiter:
            intent = await self._client.v1.payment_intents.create_async(
                cast(PaymentIntentCreateParams, params),
                {"idempotency_key": request.idempotency_key},
            )
        return await self._intent_outcome(intent, request)

    async def _confirm_authenticated(
        self, request: ChargeRequest, pending: str, authentication: Mapping[str, Any]
    ) -> PaymentOutcome:
        """Confirm the waiting PaymentIntent with the agent's 3-D Secure result
        (Stripe's externally authenticated 3DS fields); a failed result is
        refused without a call."""
        if not authenticated(authentication):
            return Declined("authentication_failed", AUTHENTICATION_REFUSED)
        details = authentication.get("outcome_details") or {}
        three_d_secure: dict[str, str] = {
            "cryptogram": details.get("three_ds_cryptogram") or "",
            "transaction_id": details.get("transaction_id") or "",
            "version": details.get("version") or "",
        }
        if not all(three_d_secure.values()):
            return Declined("authentication_incomplete", AUTHENTICATION_INCOMPLETE, "invalid")
        if details.get("electronic_commerce_indicator"):
            three_d_secure["electronic_commerce_indicator"] = details[
                "electronic_commerce_indicator"
            ]
        trans_status = ARES_TRANS_STATUS.get(authentication.get("outcome", ""))
        if trans_status is not None:
            three_d_secure["ares_trans_status"] = trans_status
        params = {"payment_method_options": {"card": {"three_d_secure": three_d_secure}}}
        try:
            async with self.limiter:
                intent = await self._client.v1.payment_intents.confirm_async(
                    pending,
                    cast(PaymentIntentConfirmParams, params),
                    {"idempotency_key": f"{request.idempotency_key}-3ds"},
                )
        except stripe.InvalidRequestError as exc:
            if _error_code(exc) != UNEXPECTED_STATE:
                raise
            # Confirmed before (its answer lost) or canceled: look at it.
            async with self.limiter:
                intent = await self._client.v1.payment_intents.retrieve_async(pending)
            if intent.status == "canceled":
                return Declined("payment_voided", PAYMENT_VOIDED, "invalid")
            if intent.amount != request.amount or intent.currency != request.currency.lower():
                log.error("stripe_pending_amount_mismatch", session_id=request.session_id)
                return Declined("amount_mismatch", TOKEN_UNUSABLE, "invalid")
        outcome = await self._intent_outcome(intent, request)
        if isinstance(outcome, NeedsAuthentication):
            # Asking again would loop: the issuer did not accept this authentication.
            return Declined("authentication_refused", AUTHENTICATION_REFUSED)
        return outcome

    async def _check_token(self, request: ChargeRequest) -> Declined | None:
        """Refuse before charging a token Stripe says is deactivated, out of its
        limits, or blocked by its risk details."""
        path = f"/v1/shared_payment/granted_tokens/{quote(request.credential.token, safe='')}"
        async with self.limiter:
            response = await self._client.raw_request_async("get", path)
        data = response.data if isinstance(response.data, dict) else {}
        reason = _token_refusal(data, request)
        if reason is None:
            return None
        log.info(
            "stripe_token_refused",
            session_id=request.session_id,
            token=token_digest(request.credential.token),
            reason=reason,
        )
        message = {
            "expired": TOKEN_EXPIRED,
            "over_limit": TOKEN_AMOUNT,
            "currency_mismatch": TOKEN_AMOUNT,
            "risk_blocked": TOKEN_RISK,
        }.get(reason, TOKEN_USED)
        code = "payment_declined" if reason == "risk_blocked" else "invalid"
        return Declined(f"token_{reason}", message, code)

    async def _intent_outcome(
        self, intent: stripe.PaymentIntent, request: ChargeRequest
    ) -> PaymentOutcome:
        status = intent.status
        if status == "processing":
            # A replayed create returns the stored response: look at the intent now.
            async with self.limiter:
                intent = await self._client.v1.payment_intents.retrieve_async(intent.id)
            status = intent.status
        match status:
            case "succeeded" | "requires_capture":
                return Charged(Payment(NAME, intent.id, request.amount, request.currency))
            case "requires_action":
                return NeedsAuthentication(intent.id)
            case "processing":
                raise PaymentUnavailable("Stripe is still processing the payment; retry shortly.")
            case "requires_payment_method" | "canceled":
                error = intent.last_payment_error
                code = (error and (error.decline_code or error.code)) or status
                return Declined(code, DECLINE_MESSAGES.get(code, GENERIC_DECLINE))
        log.warning("stripe_unexpected_status", status=status, session_id=request.session_id)
        return Declined(f"stripe_{status}", GENERIC_DECLINE)

    def _error_outcome(self, exc: stripe.StripeError, request: ChargeRequest) -> PaymentOutcome:
        """Stripe's errors as outcomes; only error codes are logged, never
        Stripe's messages (they can quote the token)."""
        error = exc.error
        code = (error.code if error is not None else None) or exc.code
        fields = {
            "session_id": request.session_id,
            "token": token_digest(request.credential.token),
            "http_status": exc.http_status,
            "code": code,
            "request_id": exc.request_id,
        }
        if isinstance(exc, stripe.CardError):
            reason = (error.decline_code if error is not None else None) or code or "card_declined"
            log.info("stripe_card_declined", reason=reason, **fields)
            return Declined(reason, DECLINE_MESSAGES.get(reason, GENERIC_DECLINE))
        if isinstance(exc, stripe.IdempotencyError):
            log.warning("stripe_idempotency_conflict", **fields)
            return Declined("token_reused", TOKEN_REUSED, "invalid")
        if isinstance(exc, stripe.InvalidRequestError):
            if code in CONFIGURATION_CODES:
                log.error("stripe_request_rejected", param=exc.param, **fields)
                raise PaymentUnavailable(MISCONFIGURED) from None
            log.info("stripe_token_rejected", param=exc.param, **fields)
            return Declined(code or "invalid_request", _token_message(code), "invalid")
        if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
            log.error("stripe_credentials_rejected", **fields)
            raise PaymentUnavailable(MISCONFIGURED) from None
        log.warning("stripe_unavailable", error=type(exc).__name__, **fields)
        raise PaymentUnavailable(UNAVAILABLE) from None


def _error_code(exc: stripe.StripeError) -> str | None:
    error = exc.error
    return (error.code if error is not None else None) or exc.code


def _token_message(code: str | None) -> str:
    """A fixed text for a token Stripe refused, chosen by words in its code."""
    code = code or ""
    if "expired" in code:
        return TOKEN_EXPIRED
    if any(word in code for word in ("consumed", "used", "revoked", "deactivated", "resolved")):
        return TOKEN_USED
    if "amount" in code or "limit" in code:
        return TOKEN_AMOUNT
    return TOKEN_UNUSABLE


def _token_refusal(token: Mapping[str, Any], request: ChargeRequest) -> str | None:
    """Why a granted token (as Stripe returned it) cannot pay this request, if so."""
    if token.get("deactivated_at"):
        return str(token.get("deactivated_reason") or "deactivated")
    limits = token.get("usage_limits") or {}
    expires_at = limits.get("expires_at")
    if isinstance(expires_at, int) and expires_at <= time.time():
        return "expired"
    max_amount = limits.get("max_amount")
    if isinstance(max_amount, int) and request.amount > max_amount:
        return "over_limit"
    currency = limits.get("currency")
    if isinstance(currency, str) and currency.lower() != request.currency.lower():
        return "currency_mismatch"
    if _recommends_block(token.get("risk_details")):
        return "risk_blocked"
    return None


def _recommends_block(details: Any) -> bool:
    """True when any `recommended_action` in the risk details says `block`; the
    preview's risk_details shape is not settled, so every nesting is searched."""
    if isinstance(details, Mapping):
        if details.get("recommended_action") == "block":
            return True
        return any(_recommends_block(value) for value in details.values())
    if isinstance(details, list):
        return any(_recommends_block(value) for value in details)
    return False
