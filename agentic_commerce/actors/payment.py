"""The payment actor: routes each charge to the processor that accepts its token."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentic_commerce.actors.runtime import Actor
from agentic_commerce.payments.base import ChargeRequest, Declined, PaymentOutcome, Processor


@dataclass(frozen=True, slots=True)
class Charge:
    request: ChargeRequest


UNSUPPORTED = Declined("unsupported_payment_method", "This payment method is not accepted.")


class PaymentActor(Actor):
    kind = "payment"

    def __init__(self, processors: Sequence[Processor]) -> None:
        super().__init__("payment")
        self.processors = tuple(processors)

    async def receive(self, message: Charge) -> PaymentOutcome:
        for processor in self.processors:
            if processor.accepts(message.request.credential):
                return await processor.charge(message.request)
        return UNSUPPORTED
