"""The payment actor: routes each charge to the processor that accepts its token.

Charges wait on remote PSPs, so the actor handles many at once (bounded by
`concurrency`); each processor bounds its own concurrency towards its PSP, and
every call has a timeout. A processor that cannot answer yields
`PaymentUnavailable` as a value: the session stays payable and the agent may
retry (the processor's idempotency key makes the retry safe).

`Void` cancels a charge that waits for 3-D Secure at the processor that owns its
reference. A reference no configured processor owns (its processor was since
unconfigured) can no longer be confirmed by this server: it counts as voided.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog
import trio
from opentelemetry.trace import Span, SpanKind

from agentic_commerce import metrics, tracing
from agentic_commerce.actors.runtime import Actor
from agentic_commerce.payments.base import (
    AuthenticationRefused,
    Charged,
    ChargeRequest,
    Declined,
    NeedsAuthentication,
    NotVoided,
    PaymentOutcome,
    PaymentUnavailable,
    Processor,
    Voided,
    VoidOutcome,
    token_digest,
)

log = structlog.get_logger("agentic_commerce.payment")


@dataclass(frozen=True, slots=True)
class Charge:
    request: ChargeRequest


@dataclass(frozen=True, slots=True)
class Void:
    """Void the pending charge `reference` of session `session_id`."""

    reference: str
    session_id: str


OUTCOMES = {
    Charged: "charged",
    Declined: "declined",
    NeedsAuthentication: "authentication_required",
    AuthenticationRefused: "authentication_refused",
    PaymentUnavailable: "unavailable",
}
SPAN_OUTCOMES: dict[type, str] = {**OUTCOMES, Voided: "voided", NotVoided: "not_voided"}
UNSUPPORTED = Declined("unsupported_payment_method", "This payment method is not accepted.")


class PaymentActor(Actor):
    kind = "payment"

    def __init__(
        self, processors: Sequence[Processor], timeout: float, concurrency: int = 64
    ) -> None:
        super().__init__("payment")
        self.processors = tuple(processors)
        self.timeout = timeout
        self.concurrency = concurrency

    async def receive(
        self, message: Charge | Void
    ) -> PaymentOutcome | VoidOutcome | PaymentUnavailable:
        if isinstance(message, Void):
            return await self._void(message)
        request = message.request
        processor = next((p for p in self.processors if p.accepts(request.credential)), None)
        if processor is None:
            return UNSUPPORTED
        started = trio.current_time()
        outcome: PaymentOutcome | PaymentUnavailable
        name = f"charge {processor.name}"
        with tracing.child_span(name, psp(processor), SpanKind.CLIENT) as span:
            try:
                with trio.fail_after(self.timeout):
                    outcome = await processor.charge(request)
            except trio.TooSlowError:
                outcome = PaymentUnavailable(f"{processor.name} did not answer in time")
            except PaymentUnavailable as unavailable:
                outcome = unavailable
            settled(span, outcome)
        seconds = trio.current_time() - started
        metrics.PAYMENTS.labels(processor.name, OUTCOMES[type(outcome)]).inc()
        metrics.PAYMENT_DURATION.labels(processor.name).observe(seconds)
        log.info(
            "payment_attempt",
            processor=processor.name,
            session_id=request.session_id,
            token=token_digest(request.credential.token),
            outcome=type(outcome).__name__,
            seconds=round(seconds, 3),
        )
        return outcome

    async def _void(self, message: Void) -> VoidOutcome | PaymentUnavailable:
        processor = next((p for p in self.processors if p.owns(message.reference)), None)
        if processor is None:
            log.warning("payment_void_unowned", session_id=message.session_id)
            return Voided()
        outcome: VoidOutcome | PaymentUnavailable
        with tracing.child_span(f"void {processor.name}", psp(processor), SpanKind.CLIENT) as span:
            try:
                with trio.fail_after(self.timeout):
                    outcome = await processor.void(message.reference)
            except trio.TooSlowError:
                outcome = PaymentUnavailable(f"{processor.name} did not answer in time")
            except PaymentUnavailable as unavailable:
                outcome = unavailable
            settled(span, outcome)
        log.info(
            "payment_void",
            processor=processor.name,
            session_id=message.session_id,  # the PSP finds the charge by it (never the reference)
            outcome=type(outcome).__name__,
            reason=outcome.reason if isinstance(outcome, NotVoided) else None,
        )
        return outcome


def psp(processor: Processor) -> tracing.Attributes:
    """A PSP call's span attributes: the processor only (never a token or reference)."""
    return {"acs.payment.processor": processor.name}


def settled(span: Span | None, outcome: object) -> None:
    """The outcome on a PSP call's span; unavailable (the outcome is unknown) is an error."""
    if span is not None:
        span.set_attribute("acs.payment.outcome", SPAN_OUTCOMES[type(outcome)])
        if isinstance(outcome, PaymentUnavailable):
            tracing.fail(span, "PaymentUnavailable")
