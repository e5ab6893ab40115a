"""The checkout session state machine: every transition in one table.

Rules:
1. Nothing else changes a session's status; callers ask `transition` for the next
   status and it refuses anything the table does not list.
2. `completed`, `canceled` and `expired` are terminal: no event leaves them.
3. Readiness is data, not history: after any change of content the status is
   `ready_for_payment` when the quote has no error message, else
   `not_ready_for_payment` (`Event.EVALUATE` lists both targets).
4. Completion is two steps: `BEGIN_COMPLETE` (only from a payable state) to
   `complete_in_progress`, then the payment outcome: success to `completed`,
   a decline or processing failure back to `ready_for_payment`, a 3-D Secure
   challenge to `authentication_required`.
5. A charge waiting for 3-D Secure (`authentication_required`) is for the cart
   and amount it was made for. A change that leaves what would be charged as it
   is (buyer, order notes, an address or option with the same total) is an
   `EVALUATE` that keeps `authentication_required`. A change of what would be
   charged (lines, quantities, currency or total) is `VOID_AUTHENTICATION`: the
   pending charge is voided and readiness is evaluated as in rule 3. Only a
   successful authentication result completes the waiting charge (through
   `BEGIN_COMPLETE`); a failed one is a `PAYMENT_FAILED`.
6. Cancel and expiry are allowed from every open status. `complete_in_progress`
   is never committed (it is only shown while the charge runs, and the session's
   actor handles a cancel or its expiry after the outcome is committed), so no
   cancel or expiry leaves it.
"""

from __future__ import annotations

from enum import StrEnum

from agentic_commerce.domain.model import Status


class Event(StrEnum):
    EVALUATE = "evaluate"
    BEGIN_COMPLETE = "begin_complete"
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    AUTHENTICATION_NEEDED = "authentication_needed"
    VOID_AUTHENTICATION = "void_authentication"
    CANCEL = "cancel"
    EXPIRE = "expire"


class InvalidTransition(Exception):
    def __init__(self, status: Status, event: Event) -> None:
        super().__init__(f"{event.value} is not allowed in status {status.value}")
        self.status = status
        self.event = event


TERMINAL: frozenset[Status] = frozenset({Status.COMPLETED, Status.CANCELED, Status.EXPIRED})

_OPEN = (
    Status.NOT_READY_FOR_PAYMENT,
    Status.READY_FOR_PAYMENT,
    Status.AUTHENTICATION_REQUIRED,
)
_READINESS = frozenset({Status.NOT_READY_FOR_PAYMENT, Status.READY_FOR_PAYMENT})

TRANSITIONS: dict[tuple[Status, Event], frozenset[Status]] = {
    (Status.NOT_READY_FOR_PAYMENT, Event.EVALUATE): _READINESS,
    (Status.READY_FOR_PAYMENT, Event.EVALUATE): _READINESS,
    (Status.AUTHENTICATION_REQUIRED, Event.EVALUATE): frozenset({Status.AUTHENTICATION_REQUIRED}),
    (Status.AUTHENTICATION_REQUIRED, Event.VOID_AUTHENTICATION): _READINESS,
    (Status.READY_FOR_PAYMENT, Event.BEGIN_COMPLETE): frozenset({Status.COMPLETE_IN_PROGRESS}),
    (Status.AUTHENTICATION_REQUIRED, Event.BEGIN_COMPLETE): frozenset(
        {Status.COMPLETE_IN_PROGRESS}
    ),
    (Status.COMPLETE_IN_PROGRESS, Event.PAYMENT_SUCCEEDED): frozenset({Status.COMPLETED}),
    (Status.COMPLETE_IN_PROGRESS, Event.PAYMENT_FAILED): frozenset({Status.READY_FOR_PAYMENT}),
    (Status.COMPLETE_IN_PROGRESS, Event.AUTHENTICATION_NEEDED): frozenset(
        {Status.AUTHENTICATION_REQUIRED}
    ),
    **{(s, Event.CANCEL): frozenset({Status.CANCELED}) for s in _OPEN},
    **{(s, Event.EXPIRE): frozenset({Status.EXPIRED}) for s in _OPEN},
}


def allowed(status: Status, event: Event) -> bool:
    return (status, event) in TRANSITIONS


def transition(status: Status, event: Event, *, ready: bool = False) -> Status:
    """The status after `event`; `ready` picks between the readiness targets
    (`EVALUATE` outside `authentication_required`, and `VOID_AUTHENTICATION`)."""
    targets = TRANSITIONS.get((status, event))
    if targets is None:
        raise InvalidTransition(status, event)
    if len(targets) == 1:
        return next(iter(targets))
    return Status.READY_FOR_PAYMENT if ready else Status.NOT_READY_FOR_PAYMENT
