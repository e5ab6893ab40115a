"""The simulated processor for development and demos: `tok_test_*` tokens.

- `tok_test_decline`, `tok_test_insufficient_funds`: declined;
- `tok_test_3ds`: asks for 3-D Secure, then charges once authenticated;
- `tok_test_unavailable`: the processor is down (a retryable 5xx);
- every other `tok_test_` token: charged.

A simulated charge's reference (`sim_pi_…`) is derived from the session, the
token, the amount and the currency, like a PaymentIntent made for one amount:
a waiting `tok_test_3ds` charge completes only when the session sends back the
reference of this very charge (same token and amount) with a successful
authentication result. Nothing is held while it waits, so voiding it is a no-op;
the session drops the voided reference, and the next complete starts over with
a new challenge.
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
    Voided,
    VoidOutcome,
    authenticated,
    charge_reference,
)

PREFIX = "tok_test_"
REFERENCE_PREFIX = "sim_pi_"
AUTHENTICATION_FAILED = Declined(
    "authentication_failed", "3-D Secure authentication was not accepted; try another card."
)
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
        reference = self.reference(request)
        if token == "tok_test_3ds":
            if request.pending != reference or request.authentication is None:
                return NeedsAuthentication(reference)  # no challenge of this charge yet
            if not authenticated(request.authentication):
                return AUTHENTICATION_FAILED
        return Charged(Payment("simulated", reference, request.amount, request.currency))

    @staticmethod
    def reference(request: ChargeRequest) -> str:
        return charge_reference(REFERENCE_PREFIX, request)

    def owns(self, reference: str) -> bool:
        return reference.startswith(REFERENCE_PREFIX)

    async def void(self, reference: str) -> VoidOutcome:
        return Voided()  # a simulated charge holds nothing while it waits
