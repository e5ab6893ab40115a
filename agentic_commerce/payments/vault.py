"""Charging `vt_` tokens of the sandbox vault: the token is consumed atomically,
once, and only within its allowance; the sandbox charge then always succeeds."""

from __future__ import annotations

from agentic_commerce.actors.clock import SystemClock
from agentic_commerce.domain.commands import PaymentCredential
from agentic_commerce.domain.model import Payment
from agentic_commerce.domain.vault import TokenUse
from agentic_commerce.payments.base import (
    Charged,
    ChargeRequest,
    Declined,
    PaymentOutcome,
    PaymentUnavailable,
    Processor,
)
from agentic_commerce.store.base import Store, StoreUnavailable

PREFIX = "vt_"


class VaultProcessor(Processor):
    name = "vault"

    def __init__(self, store: Store, clock: SystemClock) -> None:
        self.store = store
        self.clock = clock

    def accepts(self, credential: PaymentCredential) -> bool:
        return credential.token.startswith(PREFIX)

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
            refused = await self.store.consume_vault_token(token_id, use)
        except StoreUnavailable:  # the vault is this processor's PSP: unavailable, retry later
            raise PaymentUnavailable("the vault did not answer") from None
        if refused is not None:
            return Declined("vault_token_refused", refused.message, refused.code)
        return Charged(Payment("vault", token_id, request.amount, request.currency))
