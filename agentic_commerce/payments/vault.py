"""Charging `vt_` tokens of the sandbox vault: the token is consumed atomically,
once, and only within its allowance; the sandbox charge then always succeeds.

A token of a 3-D Secure test card (`domain/delegate_authentication.RULES`) first
asks for authentication, holding nothing (voiding it is a no-op). The charge
waiting for it completes only with a result the sandbox provider produced for this
merchant, checkout session, card, amount and currency; any other claimed success
(forged, or another session's or card's) is refused and the charge keeps waiting.
"""

from __future__ import annotations

from typing import Any

from agentic_commerce.actors.clock import SystemClock
from agentic_commerce.domain import delegate_authentication as auth
from agentic_commerce.domain.commands import PaymentCredential
from agentic_commerce.domain.model import Payment
from agentic_commerce.domain.vault import TokenUse, VaultToken, refusal
from agentic_commerce.payments.base import (
    AuthenticationRefused,
    Charged,
    ChargeRequest,
    Declined,
    NeedsAuthentication,
    PaymentOutcome,
    PaymentUnavailable,
    Processor,
    charge_reference,
)
from agentic_commerce.store.base import Store, StoreUnavailable

PREFIX = "vt_"
REFERENCE_PREFIX = "vt_3ds_"


class VaultProcessor(Processor):
    name = "vault"

    def __init__(self, store: Store, clock: SystemClock) -> None:
        self.store = store
        self.clock = clock

    def accepts(self, credential: PaymentCredential) -> bool:
        return credential.token.startswith(PREFIX)

    def owns(self, reference: str) -> bool:
        return reference.startswith(REFERENCE_PREFIX)

    async def charge(self, request: ChargeRequest) -> PaymentOutcome:
        token_id = request.credential.token
        use = TokenUse(
            session_id=request.session_id,
            merchant_id=request.merchant_id,
            amount=request.amount,
            currency=request.currency,
            at=self.clock.now(),
        )
        try:
            token = await self.store.load_vault_token(token_id)
            if token is not None and token.three_ds and refusal(token, use) is None:
                reference = charge_reference(REFERENCE_PREFIX, request)
                if request.pending != reference or request.authentication is None:
                    return NeedsAuthentication(reference)  # no authentication of this charge yet
                refused = await self._check(token, request, request.authentication)
                if refused is not None:
                    return refused
            reason = await self.store.consume_vault_token(token_id, use)
        except StoreUnavailable:  # the vault is this processor's PSP: unavailable, retry later
            raise PaymentUnavailable("the vault did not answer") from None
        if reason is not None:
            return Declined("vault_token_refused", reason.message, reason.code)
        return Charged(Payment("vault", token_id, request.amount, request.currency))

    async def _check(
        self, token: VaultToken, request: ChargeRequest, claim: dict[str, Any]
    ) -> AuthenticationRefused | None:
        """Whether the claimed result is the sandbox provider's for this charge."""
        details = claim.get("outcome_details")
        named = details.get("transaction_id") if isinstance(details, dict) else None
        session = None
        if isinstance(named, str):
            session = await self.store.load_authentication(auth.session_id_for(named))
        charge = auth.Charge(
            merchant_id=request.merchant_id,
            checkout_session_id=request.session_id,
            card_fingerprint=token.card_fingerprint,
            amount=request.amount,
            currency=request.currency,
        )
        message = auth.mismatch(session, claim, charge)
        return None if message is None else AuthenticationRefused(message)
