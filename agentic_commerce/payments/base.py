"""What a payment processor is asked and what it can answer."""

from __future__ import annotations

import abc
from dataclasses import dataclass

from agentic_commerce.domain.commands import PaymentCredential
from agentic_commerce.domain.model import Payment


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    credential: PaymentCredential
    amount: int
    currency: str
    session_id: str
    merchant_id: str
    idempotency_key: str  # the processor must charge at most once per key


@dataclass(frozen=True, slots=True)
class Charged:
    payment: Payment


@dataclass(frozen=True, slots=True)
class Declined:
    """The charge was refused; `message` is safe to show (never contains the token)."""

    reason: str
    message: str


PaymentOutcome = Charged | Declined


class Processor(abc.ABC):
    name: str

    @abc.abstractmethod
    def accepts(self, credential: PaymentCredential) -> bool: ...

    @abc.abstractmethod
    async def charge(self, request: ChargeRequest) -> PaymentOutcome: ...
