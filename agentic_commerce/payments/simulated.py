"""The simulated processor for development and demos: `tok_test_*` tokens.

`tok_test_decline` is declined; `tok_test_insufficient_funds` is declined for
lack of funds; every other `tok_test_` token is charged.
"""

from __future__ import annotations

import hashlib

from agentic_commerce.domain.commands import PaymentCredential
from agentic_commerce.domain.model import Payment
from agentic_commerce.payments.base import (
    Charged,
    ChargeRequest,
    Declined,
    PaymentOutcome,
    Processor,
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
        declined = DECLINES.get(request.credential.token)
        if declined is not None:
            return declined
        digest = hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:24]
        return Charged(Payment("simulated", f"sim_ch_{digest}", request.amount, request.currency))
