"""What a payment processor is asked and what it can answer."""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentic_commerce.domain.commands import PaymentCredential
from agentic_commerce.domain.model import Payment


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    """Charge `amount` for one session, or finish a charge that awaited 3-D Secure.

    `pending` is the processor's reference of a charge that asked for
    authentication; `authentication` is the agent's 3-D Secure result for it.
    A processor completes the pending charge only when the result's outcome is
    one of `AUTHENTICATED`; the session sends `pending` only while it waits for
    3-D Secure, and drops it when the charge is voided (`Processor.void`).
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


AUTHENTICATED = frozenset({"authenticated", "attempt_acknowledged"})
"""3-D Secure outcomes that authenticate a charge; every other outcome fails it."""


def authenticated(result: Mapping[str, Any] | None) -> bool:
    """Whether the agent's `authentication_result` is a successful authentication."""
    return result is not None and result.get("outcome") in AUTHENTICATED


def token_digest(token: str) -> str:
    """A short, non-reversible name for a token (never log the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def charge_reference(prefix: str, request: ChargeRequest) -> str:
    """A waiting charge's reference, derived from the session, the token, the amount and
    the currency (like a PaymentIntent made for one amount): a result for another
    charge never names it."""
    charge = f"{request.idempotency_key}\x1f{request.amount}\x1f{request.currency}"
    return f"{prefix}{token_digest(charge)}"


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


@dataclass(frozen=True, slots=True)
class AuthenticationRefused:
    """The agent's 3-D Secure result is not one the provider produced for this charge
    (forged, or another card's, amount's or session's): the complete is refused and
    the charge keeps waiting for a genuine result. `message` is safe to show."""

    message: str


PaymentOutcome = Charged | Declined | NeedsAuthentication | AuthenticationRefused


@dataclass(frozen=True, slots=True)
class Voided:
    """The pending charge can no longer complete: canceled now or before (or
    never held anything, for the simulated processor)."""


@dataclass(frozen=True, slots=True)
class NotVoided:
    """The pending charge went through before it could be voided (e.g. a confirm
    whose answer was lost): money moved, so the session must not drop it."""

    reason: str


VoidOutcome = Voided | NotVoided


class Processor(abc.ABC):
    name: str

    @abc.abstractmethod
    def accepts(self, credential: PaymentCredential) -> bool: ...

    @abc.abstractmethod
    async def charge(self, request: ChargeRequest) -> PaymentOutcome:
        """Charge, or raise `PaymentUnavailable` when the outcome is unknown."""

    def owns(self, reference: str) -> bool:
        """Whether `reference` (of `NeedsAuthentication`) names one of this
        processor's pending charges. Processors that never leave one pending own none."""
        return False

    async def void(self, reference: str) -> VoidOutcome:
        """Void the pending charge `reference`, so that it can never complete.

        Idempotent (voiding a voided charge is `Voided`); `NotVoided` when the
        charge went through meanwhile; raises `PaymentUnavailable` when the
        processor cannot tell (the caller must then keep the reference).
        """
        return Voided()

    async def close(self) -> None:
        return None
