"""`spt_` tokens when Stripe is not configured: kept apart from the Stripe processor
so that a server without Stripe never imports the `stripe` package."""

from __future__ import annotations

from agentic_commerce.domain.commands import PaymentCredential
from agentic_commerce.payments.base import ChargeRequest, Declined, PaymentOutcome, Processor

NAME = "stripe"
TOKEN_PREFIX = "spt_"
NOT_CONFIGURED = "Stripe payments are not configured for this merchant."


class StripeNotConfigured(Processor):
    """Declines `spt_` tokens when no Stripe secret key is set, so the agent gets
    a clear payment_declined message rather than "unsupported payment method"."""

    name = NAME

    def accepts(self, credential: PaymentCredential) -> bool:
        return credential.token.startswith(TOKEN_PREFIX)

    async def charge(self, request: ChargeRequest) -> PaymentOutcome:
        return Declined("stripe_not_configured", NOT_CONFIGURED)
