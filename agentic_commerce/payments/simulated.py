"""The simulated processor for development and demos: `tok_test_*` tokens.

- `tok_test_decline`, `tok_test_insufficient_funds`: declined;
- `tok_test_3ds`: asks for 3-D Secure, then charges once authenticated;
- `tok_test_unavailable`: the processor is down (a retryable 5xx);
- every other `tok_test_` token: charged.
"""

from __future__ import annotations

from agentic_commerce.domain.commands import PaymentCredential
from agentic_commerce.domain.model import Payment
from agentic_commerce.payments.base import (
    Charged,
    ChargeRequest,
    Declined,
    NeedsAuthentication,
    PaymentOutcome,
    PaymentUnavailable,
    Processor,
    token_digest,
)

PREFIX = "tok_test_"
DECLINES = {
    "tok_test_decline": Declined("card_declined", "The card was declined."),
    "tok_test_insufficient_funds": Declined(
        "insufficient_funds", "The card has insufficient funds."
    ),
}


class SimulatedProcessor(Processor):
    name = "simulated"

    def accepts(self, credential: PaymentCredential) -> bool:
        return credential.token.startswith(PREFIX)

    async def charge(self, request: ChargeRequest) -> PaymentOutcome:
        token = request.credential.token
        if token == "tok_test_unavailable":
            raise PaymentUnavailable("the simulated processor is unavailable")
        declined = DECLINES.get(token)
        if declined is not None:
            return declined
        reference = f"sim_pi_{token_digest(request.idempotency_key)}"
        if token == "tok_test_3ds" and (request.pending is None or not request.authentication):
            return NeedsAuthentication(reference)
        return Charged(Payment("simulated", reference, request.amount, request.currency))
