"""What a payment processor is asked and what it can answer."""

from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass
from typing import Any

from agentic_commerce.domain.commands import PaymentCredential
from agentic_commerce.domain.model import Payment


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    """Charge `amount` for one session, or finish a charge that awaited 3-D Secure.

    `pending` is the processor's reference of a charge that asked for
    authentication; `authentication` is the agent's 3-D Secure result for it.
    """

    credential: PaymentCredential
    amount: int
    currency: str
    session_id: str
    merchant_id: str
    order_id: str
    can_authenticate: bool = False
    pending: str | None = None
    authentication: dict[str, Any] | None = None

    @property
    def idempotency_key(self) -> str:
        """Derived from the session and the token: a retried or concurrent complete
        with the same token maps to one charge; a new token gets a new one."""
        return f"acp-complete-{self.session_id}-{token_digest(self.credential.token)}"


def token_digest(token: str) -> str:
    """A short, non-reversible name for a token (never log the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def order_id_for(session_id: str, token: str) -> str:
    """Order ids are derived like the charge's idempotency key, so a retried
    charge sends the processor identical parameters."""
    digest = hashlib.sha256(f"{session_id}\x1f{token}".encode()).hexdigest()[:24]
    return f"ord_{digest}"


@dataclass(frozen=True, slots=True)
class Charged:
    payment: Payment


@dataclass(frozen=True, slots=True)
class Declined:
    """The charge was refused; `message` is safe to show (never contains the token).

    `code` is the ACP message code (`payment_declined`, or `invalid` when the
    credential itself is unusable for this session).
    """

    reason: str
    message: str
    code: str = "payment_declined"


@dataclass(frozen=True, slots=True)
class NeedsAuthentication:
    """The issuer asks for 3-D Secure; `reference` identifies the waiting charge."""

    reference: str


class PaymentUnavailable(Exception):
    """The processor could not be reached or failed (5xx, timeout); safe to retry.

    The message is safe to show: it never contains a token or key.
    """


PaymentOutcome = Charged | Declined | NeedsAuthentication


class Processor(abc.ABC):
    name: str

    @abc.abstractmethod
    def accepts(self, credential: PaymentCredential) -> bool: ...

    @abc.abstractmethod
    async def charge(self, request: ChargeRequest) -> PaymentOutcome:
        """Charge, or raise `PaymentUnavailable` when the outcome is unknown."""

    async def close(self) -> None:
        return None
