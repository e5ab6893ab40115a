"""The session actor: the single writer of one checkout session.

It loads the session with the first message after (re)activation (a create whose
key found no session in the store needs no load), applies each command through the pure
checkout functions, takes stock holds and payments through their actors, and
commits every change through the store before it answers. Its snapshot (the
last committed state with its quote) serves reads without a mailbox round trip.
Its own timer expires the session at `expires_at`, and it passivates after
`idle_seconds` without messages.

A charge waiting for 3-D Secure (`pending_payment`, status
`authentication_required`) is completed only with a successful authentication
result (`AUTHENTICATED`); a failed result fails it. A change of what would be
charged (lines, quantities, currency, total) voids it: the actor cancels it at
the processor first and drops the reference only once the processor says it
is void (see `_void_pending`), then readiness is evaluated afresh and the next
complete starts a new charge. Any other change keeps it waiting.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
import trio

from agentic_commerce import metrics, tracing
from agentic_commerce.actors.clock import SystemClock
from agentic_commerce.actors.inventory import Consume, GetStock, Hold, Release
from agentic_commerce.actors.payment import Charge, Void
from agentic_commerce.actors.runtime import Actor, ActorError, ActorRef
from agentic_commerce.domain import checkout, order_lifecycle, pricing
from agentic_commerce.domain.catalog import Catalog
from agentic_commerce.domain.commands import (
    UNSET,
    CancelSession,
    CompleteSession,
    CreateSession,
    UpdateSession,
)
from agentic_commerce.domain.errors import RequestRejected, unavailable
from agentic_commerce.domain.model import (
    Message,
    MessageType,
    Order,
    Session,
    Shipment,
    Status,
)
from agentic_commerce.domain.orders import place_order
from agentic_commerce.domain.state_machine import TERMINAL, Event, transition
from agentic_commerce.domain.view import SessionView
from agentic_commerce.payments.base import (
    AUTHENTICATED,
    AuthenticationRefused,
    Charged,
    ChargeRequest,
    Declined,
    NeedsAuthentication,
    NotVoided,
    PaymentUnavailable,
    Voided,
    order_id_for,
)
from agentic_commerce.protocol.versions import Versions
from agentic_commerce.store.base import (
    Answer,
    Commit,
    OutboxEvent,
    StockLevel,
    Store,
    StoreUnavailable,
    VersionConflict,
)

if TYPE_CHECKING:
    from agentic_commerce.actors.registry import ActorRegistry

log = structlog.get_logger("agentic_commerce.session")


@dataclass(frozen=True, slots=True)
class Create:
    command: CreateSession
    merchant_id: str
    api_version: str
    answer: Answer | None = None


@dataclass(frozen=True, slots=True)
class Update:
    command: UpdateSession
    merchant_id: str
    answer: Answer | None = None


@dataclass(frozen=True, slots=True)
class Complete:
    command: CompleteSession
    merchant_id: str
    answer: Answer | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    command: CancelSession
    merchant_id: str
    answer: Answer | None = None


@dataclass(frozen=True, slots=True)
class Get:
    merchant_id: str


@dataclass(frozen=True, slots=True)
class Expire:
    """Sent by the expiry sweeper for sessions whose actor is not live."""


@dataclass(frozen=True, slots=True)
class SetOrderStatus:
    """An operator moves the session's order forward (admin API)."""

    status: str
    shipment: Shipment | None = None


@dataclass(frozen=True, slots=True)
class RefundOrder:
    """An operator refunds part or all of the session's order (admin API)."""

    amount: int
    kind: str = "original_payment"
    reason: str | None = None


SessionMessage = Create | Update | Complete | Cancel | Get | Expire | SetOrderStatus | RefundOrder
ANSWERED = (Create, Update, Complete, Cancel)  # messages that carry an idempotent answer
SessionReply = SessionView | RequestRejected | None


@dataclass(frozen=True, slots=True)
class SessionDeps:
    """What every session actor shares."""

    store: Store
    versions: Versions  # renders idempotent answers in the request's version
    catalog: Catalog
    inventory: ActorRef
    payment: ActorRef
    clock: SystemClock
    ttl: timedelta
    idle_seconds: float
    ask_timeout: float
    payment_timeout: float
    order_url_template: str
    on_events: Callable[[], None] = lambda: None  # after a commit that carries events


AUTHENTICATION_FAILED = Message(
    MessageType.ERROR,
    "3-D Secure authentication failed; pay again or with another card.",
    "payment_declined",
    "$.authentication_result",
    blocking=False,
)
INTERVENTION_NEEDED = Message(
    MessageType.ERROR,
    "The card issuer requires 3-D Secure, which this agent did not declare it supports.",
    "intervention_required",
    "$.payment_data",
    blocking=False,
)


SESSION_EXISTS = "session_exists"


def not_found() -> RequestRejected:
    return RequestRejected("not_found", "Checkout session not found.", None, status=404)


def store_unavailable() -> RequestRejected:
    """The store did not answer in time: retry shortly (a replay shows what was done)."""
    return unavailable("unavailable", "The service is temporarily unavailable; retry shortly.")


class Interrupted(RequestRejected):
    """A service actor this request needed crashed, was killed or is overloaded."""


def interrupted() -> Interrupted:
    return Interrupted(
        "interrupted",
        "The request was interrupted; retry shortly (a retry never applies it twice).",
        None,
        status=503,
        type="service_unavailable",
        retry_after=1,
    )


def payment_unavailable() -> RequestRejected:
    """The PSP did not answer (or failed): 502, retryable."""
    return RequestRejected(
        "payment_unavailable",
        "The payment processor is unavailable; retry shortly.",
        None,
        status=502,
        type="processing_error",
        retry_after=1,
    )


def fresh_snapshot(actor: Actor | None, merchant_id: str, now: datetime) -> SessionView | None:
    """A live actor's published view, when it can answer a read without a message:
    same merchant, and not past an expiry the actor has yet to apply."""
    view = actor.snapshot if isinstance(actor, SessionActor) else None
    if view is None or view.session.merchant_id != merchant_id:
        return None
    session = view.session
    if session.status not in TERMINAL and now >= session.expires_at:
        return None
    return view


def committed_view(deps: SessionDeps, session: Session | None, merchant_id: str) -> SessionView:
    """A session as read from the store, for a GET whose actor runs elsewhere (or
    nowhere): nothing is activated or forwarded to the instance that runs it (the
    store holds every answered change). An expiry not yet committed by its actor or
    the sweeper is applied to what is shown."""
    if session is None or session.merchant_id != merchant_id:
        raise not_found()
    now = deps.clock.now()
    if session.status not in TERMINAL and now >= session.expires_at:
        expired = transition(session.status, Event.EXPIRE)
        session = replace(session, status=expired, updated_at=session.expires_at)
    return SessionView(session, pricing.quote(session, deps.catalog, now))


FINAL_EVENTS = {
    Status.COMPLETED: "completed",
    Status.CANCELED: "canceled",
    Status.EXPIRED: "expired",
}


def count_session_event(before: Session | None, after: Session) -> None:
    """One session event per commit, named by the status change it made."""
    if before is None:
        event = "created"
    elif after.status is not before.status and after.status in FINAL_EVENTS:
        event = FINAL_EVENTS[after.status]
    else:
        event = "updated"
    metrics.SESSIONS.labels(event).inc()
    if event == "completed" and after.order is not None:
        metrics.ORDERS.labels(after.currency).inc()
        metrics.ORDER_VALUE.labels(after.currency).inc(after.order.total)


def order_event(kind: str, session: Session, order: Order, now: datetime) -> OutboxEvent:
    """The outbox event of an order change, carrying the order as it now is."""
    return OutboxEvent(
        id=new_id("evt"),
        type=kind,
        session_id=session.id,
        order_id=order.id,
        api_version=session.api_version,
        created_at=now,
        order=order,
        trace=tracing.traceparent(),  # its deliveries link to this request's trace
    )


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class SessionActor(Actor):
    kind = "session"

    def __init__(self, session_id: str, registry: ActorRegistry, deps: SessionDeps) -> None:
        super().__init__(f"session:{session_id}")
        self.session_id = session_id
        self.registry = registry
        self.deps = deps
        self.state: Session | None = None
        self.snapshot: SessionView | None = None
        self._idle_at = 0.0
        self._answer: Answer | None = None  # of the message being handled
        self._completing = False  # that message is a Complete (answered with the order)
        self._recorded = False  # its record went into a commit
        self._quoted: tuple[Session, pricing.Quote] | None = None  # the last settled session
        self._loaded = False  # until the first message; again after a store failure
        self._refusing = False  # a load failed: answer what is queued with 503, then passivate

    # lifecycle ------------------------------------------------------------
    async def started(self) -> None:
        """The state is loaded with the first message (see `receive`)."""
        self._touch()
        log.debug("actor_activated", kind=self.kind, session_id=self.session_id)

    async def _load(self) -> None:
        self.state = await self.deps.store.load_session(self.session_id)
        self._loaded = True
        if self.state is not None:
            self._publish(self.state)

    def _touch(self) -> None:
        self._idle_at = trio.current_time() + self.deps.idle_seconds

    def _forget(self) -> None:
        """After a store failure: the state is unknown until loaded again. With no
        state the actor passivates as soon as its mailbox is empty."""
        self._loaded = False
        self.state = None
        self.snapshot = None
        self._idle_at = trio.current_time()

    def deadline(self) -> float:
        if self.state is not None and self.state.status not in TERMINAL:
            return min(self._idle_at, self.deps.clock.deadline(self.state.expires_at))
        return self._idle_at

    async def on_deadline(self) -> bool:
        if self._due():
            try:
                await self._expire()
            except StoreUnavailable:
                self._forget()  # the sweeper expires it once the store answers
        if trio.current_time() >= self._idle_at:
            stop = self.registry.passivate(self.session_id, self)
            if stop:
                log.debug("actor_passivated", kind=self.kind, session_id=self.session_id)
            else:
                self._touch()  # a message is queued: stay, or the past deadline spins
            return stop
        return False

    def _due(self) -> bool:
        s = self.state
        return s is not None and s.status not in TERMINAL and self.deps.clock.now() >= s.expires_at

    # messages -------------------------------------------------------------
    async def receive(self, message: SessionMessage) -> SessionReply:
        self._touch()
        try:
            if self._refusing:
                raise StoreUnavailable("session state not loaded")
            if not self._loaded:
                if isinstance(message, Create) and message.answer and message.answer.fresh:
                    self._loaded = True  # the store had none when its key was claimed
                else:
                    try:
                        await self._load()
                    except StoreUnavailable:
                        self._refusing = True  # down: refuse the rest of the queue quickly
                        raise
            elif self.state is None and not isinstance(message, Create):
                # Before a 404: a commit that a killed incarnation left running in the
                # store's worker thread may have landed after this one loaded.
                await self._load()
            if self._due():
                await self._expire()
            self._answer = message.answer if isinstance(message, ANSWERED) else None
            self._completing = isinstance(message, Complete)
            self._recorded = False
            reply = await self._dispatch(message)
            if isinstance(reply, SessionView) and self._answer and not self._recorded:
                # Answered without a state change: the record is written on its own.
                body = self.deps.versions.render(
                    self._answer.version, reply, complete=self._completing
                )
                await self.deps.store.put_idempotency(self._answer.record(body))
            return reply
        except RequestRejected as rejected:
            return rejected
        except StoreUnavailable:
            self._forget()
            return store_unavailable()
        except VersionConflict:
            # Another writer committed first (a stale actor): reload before the next
            # message; this one is retryable, and its retry sees the newer state.
            log.warning("commit_conflict", session_id=self.session_id)
            self._forget()
            return store_unavailable()
        finally:
            self._answer = None
            if self.state is None:
                self._idle_at = trio.current_time()  # unknown id: passivate at once

    async def _dispatch(self, message: SessionMessage) -> SessionView | None:
        match message:
            case Create():
                return await self._create(message)
            case Expire():
                return None
            case SetOrderStatus(status, shipment):
                return await self._change_order(
                    lambda order, now: order_lifecycle.change_status(order, status, shipment, now)
                )
            case RefundOrder(amount, kind, reason):
                return await self._change_order(
                    lambda order, now: order_lifecycle.add_refund(
                        order, amount, kind, reason, new_id("rf"), now
                    )
                )
        self._check_owner(message.merchant_id)
        match message:
            case Get():
                return self._view()
            case Update(command):
                return await self._update(command)
            case Complete(command):
                return await self._complete(command)
            case Cancel():
                return await self._cancel()
        raise TypeError(f"unexpected message {type(message).__name__}")

    # helpers --------------------------------------------------------------
    def _publish(self, session: Session) -> SessionView:
        view = SessionView(
            session, pricing.quote(session, self.deps.catalog, self.deps.clock.now())
        )
        self.snapshot = view
        return view

    def _check_owner(self, merchant_id: str) -> None:
        """Another merchant's session does not exist for the caller."""
        if self.state is None or self.state.merchant_id != merchant_id:
            raise not_found()

    def _view(self) -> SessionView:
        if self.snapshot is None:
            raise not_found()
        return self.snapshot

    def _current(self) -> Session:
        if self.state is None:
            raise not_found()
        return self.state

    async def _commit(self, session: Session, events: tuple[OutboxEvent, ...] = ()) -> SessionView:
        """Write the new state, the request's answer and its events in one commit."""
        expected = None if self.state is None else self.state.version
        quote = self._quote(session)
        answer = self._answer
        # The view as it will be stored; its body in the request's version is rendered
        # once, stored with the change and (from the view's cache) sent.
        view = SessionView(replace(session, version=(expected or 0) + 1), quote)
        record = None
        if answer is not None:
            body = self.deps.versions.render(answer.version, view, complete=self._completing)
            record = answer.record(body)
        stored = await self.deps.store.commit(Commit(session, expected, record, events))
        self._recorded = record is not None
        count_session_event(self.state, stored)
        self.state = stored
        self.snapshot = SessionView(stored, quote, view.rendered)
        if events:
            self.deps.on_events()
        return self.snapshot

    async def _inventory(self, message: Hold | Release | Consume | GetStock) -> Any:
        """Ask the inventory; its store failing comes back as a value, raised here."""
        try:
            reply = await self.deps.inventory.ask(message, self.deps.ask_timeout)
        except ActorError:  # it crashed, was killed or is overloaded: not our crash
            raise interrupted() from None
        if isinstance(reply, StoreUnavailable):
            raise StoreUnavailable(str(reply))
        return reply

    async def _hold_stock(self, session: Session, uses: Mapping[str, int] | None = None) -> Session:
        """Hold what `session` wants, naming the committed lines' products too (with
        0 units when no longer wanted), so one store round trip releases them; and
        the promotion `uses` named (a complete holds one of each usage-limited
        promotion it applies; any other hold names none, which releases them)."""
        before = () if self.state is None else self.state.lines
        wants = {line.product_id: 0 for line in before} | checkout.wanted_stock(session)
        short = await self._inventory(Hold(session.id, wants | dict(uses or {})))
        return checkout.with_shortages(session, short)

    async def _release_uses(self, session: Session, uses: Mapping[str, int]) -> None:
        """After a failed complete: its promotion uses go back (best effort: left
        held, they go back when the session ends)."""
        if uses:
            wants = checkout.wanted_stock(session) | dict.fromkeys(uses, 0)
            with contextlib.suppress(StoreUnavailable, Interrupted):
                await self._inventory(Hold(session.id, wants))

    async def _check_uses(self, session: Session) -> Session:
        """The session with the usage-limited promotions it would apply checked in
        the store: those with no use left are refused from now on (no store call
        unless such a promotion applies)."""
        checked: set[str] = set()
        while True:
            applied = pricing.session_discounts(session, self.deps.catalog, self.deps.clock.now())
            keys = [key for key in applied.uses if key not in checked]
            if not keys:
                return session
            checked.update(keys)
            spent = []
            for key in keys:
                level: StockLevel = await self._inventory(GetStock(key))
                if level.on_hand - level.reserved <= 0:
                    spent.append(key)
            session = checkout.with_shortages(session, (*session.short_products, *spent))

    def _settle(self, session: Session, *, void: bool = False) -> Session:
        settled, quote = checkout.settle_quoted(
            session, self.deps.catalog, self.deps.clock.now(), void=void
        )
        self._quoted = (settled, quote)
        return settled

    def _voids(self, current: Session, changed: Session) -> bool:
        """Whether the change voids the charge `current` waits on (3-D Secure)."""
        return checkout.voids_authentication(
            current, changed, self.deps.catalog, self.deps.clock.now()
        )

    async def _void_pending(self, session: Session, *, required: bool = True) -> None:
        """Void the charge `session` waits on at its processor.

        Required (an update or cancel that drops the reference), the reference
        is dropped only once the processor says the charge is void: when it
        cannot tell (Stripe unreachable), the request is answered 502, retryable,
        with nothing changed, because a confirm whose answer was lost may have
        charged it and dropping the reference would lose that payment; when the
        charge went through meanwhile, 409 (complete the session to place its
        order). Not required (expiry, which cannot be refused), a failure is
        logged for reconciliation.
        """
        reference = session.pending_payment
        if reference is None:
            return
        try:
            outcome = await self.deps.payment.ask(
                Void(reference, session.id), self.deps.payment_timeout
            )
        except ActorError as exc:
            outcome = PaymentUnavailable(f"the payment actor did not answer: {exc}")
        if isinstance(outcome, Voided):
            return
        log.warning(
            "pending_payment_not_voided",
            session_id=session.id,
            outcome=type(outcome).__name__,
            required=required,
        )
        if not required:
            return
        if isinstance(outcome, NotVoided):
            raise RequestRejected(
                "payment_in_progress",
                "The payment awaiting 3-D Secure was already processed and cannot be "
                "voided; complete the checkout session to receive its order.",
                None,
                status=409,
            )
        raise payment_unavailable()

    def _quote(self, session: Session) -> pricing.Quote:
        """The quote of `session`, reusing the one `_settle` just computed for it."""
        if self._quoted is not None and self._quoted[0] is session:
            return self._quoted[1]
        return pricing.quote(session, self.deps.catalog, self.deps.clock.now())

    @staticmethod
    def _refuse_terminal(session: Session, action: str) -> None:
        if session.status in (Status.CANCELED, Status.EXPIRED, Status.COMPLETED):
            raise RequestRejected(
                f"session_{session.status.value}",
                f"The checkout session is {session.status.value}; it cannot be {action}.",
                None,
            )

    # commands ---------------------------------------------------------------
    async def _create(self, message: Create) -> SessionView:
        if self.state is not None:
            raise RequestRejected(SESSION_EXISTS, "Checkout session exists already.", None)
        session = checkout.create(
            message.command,
            session_id=self.session_id,
            merchant_id=message.merchant_id,
            api_version=message.api_version,
            catalog=self.deps.catalog,
            now=self.deps.clock.now(),
            ttl=self.deps.ttl,
        )
        try:
            held = await self._hold_stock(await self._check_uses(session))
            return await self._commit(self._settle(held))
        except Exception:
            # Awaited, so a retry's hold cannot overtake it (the inventory actor runs
            # several messages at once); left undone, the orphan sweep releases it.
            with contextlib.suppress(StoreUnavailable, Interrupted):
                await self._inventory(Release(self.session_id))
            raise
        except BaseException:  # killed or cancelled: nothing can be awaited any more
            self.deps.inventory.tell(Release(self.session_id))
            raise

    async def _update(self, command: UpdateSession) -> SessionView:
        current = self._current()
        self._refuse_terminal(current, "updated")
        now = self.deps.clock.now()
        session = checkout.update(current, command, self.deps.catalog, now)
        void = self._voids(current, session)
        if void:  # before any hold: a refused void leaves everything as it was
            await self._void_pending(current)
        if command.discount_codes is not UNSET:
            session = await self._check_uses(session)
        if command.lines is not UNSET:
            session = await self._hold_stock(session)
        return await self._commit(self._settle(session, void=void))

    async def _cancel(self) -> SessionView:
        current = self._current()
        if current.status in TERMINAL:
            raise RequestRejected(
                "session_not_cancelable",
                f"The checkout session is {current.status.value}; it cannot be canceled.",
                None,
                status=405,
            )
        await self._void_pending(current)
        session = replace(
            current,
            status=transition(current.status, Event.CANCEL),
            pending_payment=None,
            updated_at=self.deps.clock.now(),
        )
        await self._inventory(Release(self.session_id))
        return await self._commit(session)

    async def _expire(self) -> None:
        current = self._current()
        session = replace(
            current,
            status=transition(current.status, Event.EXPIRE),
            pending_payment=None,
            updated_at=current.expires_at,
        )
        await self._inventory(Release(self.session_id))
        await self._commit(session)
        await self._void_pending(current, required=False)
        log.info("session_expired", session_id=self.session_id)

    async def _complete(self, command: CompleteSession) -> SessionView:
        current = self._current()
        if current.status is Status.COMPLETED:
            return self._view()  # a repeated complete never makes a second order
        self._refuse_terminal(current, "completed")
        now = self.deps.clock.now()
        session = current
        if command.buyer is not UNSET or command.order_notes is not None:
            notes = command.order_notes if command.order_notes is not None else UNSET
            update = UpdateSession(buyer=command.buyer, order_notes=notes)
            changed = checkout.update(current, update, self.deps.catalog, now)
            void = self._voids(current, changed)  # never, for buyer and notes
            if void:
                await self._void_pending(current)
            session = self._settle(changed, void=void)
        session = checkout.take_completion_details(session, command, now)
        # Only a session waiting for 3-D Secure sends its pending charge, and only
        # with the agent's result for it: a voided reference is never sent again.
        authenticating = session.status is Status.AUTHENTICATION_REQUIRED
        if authenticating:
            self._require_authentication_result(command)
        quote = self._quote(session)
        if not quote.ready:
            return await self._commit(session) if session is not current else self._view()
        uses = quote.discounts.uses
        if authenticating:
            failed = self._check_authentication(session, command)
            if failed is not None:
                return await self._fail(failed, uses)
        # Hold exactly what is about to be sold: a crash between an earlier hold (or
        # release) and its commit can leave the holds apart from the committed lines.
        # A promotion whose last use another session took is refused, and the new
        # total shown: nothing is charged that the agent has not seen.
        held = await self._hold_stock(session, uses)
        if held.short_products or held.exhausted_promotions != session.exhausted_promotions:
            return await self._commit(self._settle(held))

        paying = replace(session, status=transition(session.status, Event.BEGIN_COMPLETE))
        request = ChargeRequest(
            credential=command.payment,
            amount=quote.total,
            currency=session.currency,
            session_id=session.id,
            merchant_id=session.merchant_id,
            order_id=order_id_for(session.id, command.payment.token),
            can_authenticate="3ds" in session.interventions,
            pending=session.pending_payment if authenticating else None,
            authentication=command.authentication_result if authenticating else None,
        )
        self.snapshot = SessionView(paying, quote)
        try:
            outcome = await self.deps.payment.ask(Charge(request), self.deps.payment_timeout)
        except ActorError:  # the charge's fate is unknown: a retry asks the PSP again,
            raise interrupted() from None  # with the same idempotency key
        finally:
            if self.snapshot is not None and self.snapshot.session is paying:
                self.snapshot = SessionView(current, quote)
        match outcome:
            case Charged():
                return await self._place_order(paying, quote, outcome, request.order_id, now)
            case NeedsAuthentication(reference) if request.can_authenticate:
                status = transition(paying.status, Event.AUTHENTICATION_NEEDED)
                waiting = replace(
                    paying, status=status, pending_payment=reference, notices=(), updated_at=now
                )
                return await self._commit(waiting)
            case NeedsAuthentication():
                return await self._fail(
                    self._payment_failed(paying, INTERVENTION_NEEDED, now), uses
                )
            case AuthenticationRefused(message):  # still waiting for a genuine result
                raise RequestRejected(
                    "invalid_authentication_result", message, "$.authentication_result"
                )
            case Declined():
                notice = Message(
                    MessageType.ERROR,
                    outcome.message,
                    outcome.code,
                    "$.payment_data",
                    blocking=False,
                )
                return await self._fail(self._payment_failed(paying, notice, now), uses)
            case PaymentUnavailable():
                raise payment_unavailable()
        raise TypeError(f"unexpected payment outcome {type(outcome).__name__}")

    async def _fail(self, failed: Session, uses: Mapping[str, int]) -> SessionView:
        """Commit a failed complete, then give back the promotion uses it held."""
        view = await self._commit(failed)
        await self._release_uses(failed, uses)
        return view

    @staticmethod
    def _payment_failed(paying: Session, notice: Message, now: datetime) -> Session:
        return replace(
            paying,
            status=transition(paying.status, Event.PAYMENT_FAILED),
            pending_payment=None,
            notices=(notice,),
            updated_at=now,
        )

    @staticmethod
    def _require_authentication_result(command: CompleteSession) -> None:
        """A session waiting for 3-D Secure needs the agent's result (400 `requires_3ds`)."""
        if command.authentication_result is None:
            raise RequestRejected(
                "requires_3ds",
                "This payment needs 3-D Secure: send authentication_result.",
                "$.authentication_result",
            )

    def _check_authentication(self, session: Session, command: CompleteSession) -> Session | None:
        """None when the agent's result authenticates the waiting charge; else the
        session with the charge failed (back to payable, its reference dropped).
        Only the outcomes in `AUTHENTICATED` succeed: `denied`, `rejected` and
        every other outcome fail, whatever else the result carries."""
        result = command.authentication_result
        if result is not None and result.get("outcome") in AUTHENTICATED:
            return None
        paying = replace(session, status=transition(session.status, Event.BEGIN_COMPLETE))
        return self._payment_failed(paying, AUTHENTICATION_FAILED, self.deps.clock.now())

    async def _change_order(self, change: Callable[[Order, datetime], Order]) -> SessionView:
        """Apply an operator's change to the order and emit `order_update` with it."""
        current = self._current()
        if current.order is None:
            raise RequestRejected("not_found", "Order not found.", None, status=404)
        now = self.deps.clock.now()
        order = change(current.order, now)
        event = order_event("order_update", current, order, now)
        return await self._commit(replace(current, order=order, updated_at=now), (event,))

    async def _place_order(
        self, paying: Session, quote: pricing.Quote, charged: Charged, order_id: str, now: datetime
    ) -> SessionView:
        order = place_order(
            paying,
            quote,
            order_id=order_id,
            permalink_url=self.deps.order_url_template.format(order_id=order_id),
            payment=charged.payment,
            now=now,
        )
        completed = replace(
            paying,
            status=transition(paying.status, Event.PAYMENT_SUCCEEDED),
            order=order,
            notices=(),
            pending_payment=None,
            updated_at=now,
        )
        event = order_event("order_create", paying, order, now)
        view = await self._commit(completed, (event,))
        # Sold after the answer: the order stands, and until then its units stay held,
        # so none is resold (if this is lost, the sweeper sells them once the hold is old).
        try:
            self.deps.inventory.tell(Consume(self.session_id))
        except ActorError:
            log.warning("consume_deferred", session_id=paying.id, order_id=order_id)
        log.info("order_created", session_id=paying.id, order_id=order_id)
        return view
