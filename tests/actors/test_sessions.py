"""Session actors inside a whole ActorSystem (each store, demo catalog, MockClock).

Wall time follows trio's mocked clock through `TrioClock`, so TTLs, idle timers and
the expiry sweeper run in virtual time: every wait below is on a condition.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from agentic_commerce.actors.clock import TrioClock
from agentic_commerce.actors.inventory import GetStock
from agentic_commerce.actors.runtime import ActorCrashed, ActorError
from agentic_commerce.actors.session import (
    Cancel,
    Complete,
    Create,
    Get,
    Update,
)
from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config.settings import DEFAULT_CATALOG, Settings
from agentic_commerce.domain.catalog import Catalog
from agentic_commerce.domain.commands import (
    CancelSession,
    CompleteSession,
    CreateSession,
    LineInput,
    PaymentCredential,
    UpdateSession,
)
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.model import Address, Buyer, FulfillmentDetails, Status
from agentic_commerce.domain.view import SessionView
from agentic_commerce.payments.base import ChargeRequest, PaymentOutcome, Processor
from agentic_commerce.payments.simulated import SimulatedProcessor
from agentic_commerce.store.base import Answer, StockLevel, Store
from tests.stores import StoreFactory
from tests.waiting import eventually

MERCHANT = "merchant_test"
VERSION = "2026-04-17"
TIMEOUT = 5.0
START = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
CATALOG = Catalog.from_document(json.loads(DEFAULT_CATALOG.read_text()))
ADDRESS = Address(
    name="Ada Lovelace",
    line_one="1 Main Street",
    city="San Francisco",
    state="CA",
    country="US",
    postal_code="94105",
)
OK = PaymentCredential("tok_test_ok", "simulated")
DECLINE = PaymentCredential("tok_test_decline", "simulated")
GATED = PaymentCredential("tok_gate", "gated")


# test doubles ----------------------------------------------------------------------


class CountingProcessor(SimulatedProcessor):
    """The simulated processor, counting charges per session."""

    def __init__(self) -> None:
        self.charges: dict[str, int] = {}

    async def charge(self, request: ChargeRequest) -> PaymentOutcome:
        self.charges[request.session_id] = self.charges.get(request.session_id, 0) + 1
        return await super().charge(request)


class GatedProcessor(SimulatedProcessor):
    """Charges `tok_gate` tokens only once `gate` is set; `entered` says one is waiting."""

    def __init__(self) -> None:
        self.entered = trio.Event()
        self.gate = trio.Event()
        self.calls = 0

    def accepts(self, credential: PaymentCredential) -> bool:
        return credential.token == GATED.token

    async def charge(self, request: ChargeRequest) -> PaymentOutcome:
        self.calls += 1
        self.entered.set()
        await self.gate.wait()
        return await super().charge(request)


class StoreGate:
    """A store mixin whose `hold` or `release` can be held up at a gate."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gated: str | None = None
        self.entered = trio.Event()
        self.gate = trio.Event()

    async def _wait(self, operation: str) -> None:
        if self.gated == operation:
            self.gated = None
            self.entered.set()
            await self.gate.wait()

    async def hold(self, holder: str, wants: Any) -> tuple[str, ...]:
        await self._wait("hold")
        return await super().hold(holder, wants)  # type: ignore[misc, no-any-return]

    async def release(self, holder: str) -> None:
        await self._wait("release")
        await super().release(holder)  # type: ignore[misc]


# harness ---------------------------------------------------------------------------


def lines(*pairs: tuple[str, Any]) -> tuple[LineInput, ...]:
    return tuple(
        LineInput(pid, Decimal(qty), f"$.line_items[{i}]") for i, (pid, qty) in enumerate(pairs)
    )


def view(reply: Any) -> SessionView:
    assert isinstance(reply, SessionView), reply
    return reply


def rejected(reply: Any, code: str) -> RequestRejected:
    assert isinstance(reply, RequestRejected), reply
    assert reply.code == code, (reply.code, reply.message)
    return reply


def codes(v: SessionView) -> list[str | None]:
    return [m.code for m in v.quote.messages]


@dataclass
class Running:
    system: ActorSystem
    store: Store
    stopped: trio.Event
    restarts: list[tuple[str, str]] = field(default_factory=list)

    async def ask(self, sid: str, message: Any) -> Any:
        return await self.system.sessions.ref(sid).ask(message, TIMEOUT)

    async def create(
        self,
        sid: str,
        *items: tuple[str, Any],
        address: Address | None = ADDRESS,
        buyer: Buyer | None = None,
    ) -> SessionView:
        command = CreateSession(
            currency="usd",
            lines=lines(*items),
            buyer=buyer,
            fulfillment=FulfillmentDetails(address=address) if address else None,
        )
        return view(await self.ask(sid, Create(command, MERCHANT, VERSION)))

    async def get(self, sid: str) -> Any:
        return await self.ask(sid, Get(MERCHANT))

    async def update(self, sid: str, command: UpdateSession) -> Any:
        return await self.ask(sid, Update(command, MERCHANT))

    async def complete(self, sid: str, payment: PaymentCredential = OK) -> Any:
        return await self.ask(sid, Complete(CompleteSession(payment), MERCHANT))

    async def cancel(self, sid: str) -> Any:
        return await self.ask(sid, Cancel(CancelSession(), MERCHANT))

    async def status(self, sid: str) -> Status | None:
        stored = await self.store.load_session(sid)
        return None if stored is None else stored.status

    async def has_status(self, sid: str, status: Status) -> bool:
        return await self.status(sid) is status

    async def stock(self, product_id: str) -> StockLevel:
        level = await self.store.stock(product_id)
        assert 0 <= level.reserved <= level.on_hand
        return level


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "actor_idle_seconds": 600.0,
        "session_ttl_seconds": 1800,
        "expiry_sweep_seconds": 30.0,
        "ask_timeout_seconds": TIMEOUT,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running(
    store: Store,
    clock: TrioClock,
    processors: list[Processor] | None = None,
    **overrides: Any,
) -> AsyncIterator[Running]:
    restarts: list[tuple[str, str]] = []
    system = ActorSystem(
        settings(**overrides),
        store,
        CATALOG,
        clock=clock,
        processors=processors if processors is not None else [SimulatedProcessor()],
        on_restart=lambda kind, child: restarts.append((kind, child)),
    )
    stopped = trio.Event()

    async def run() -> None:
        try:
            await system.run()
        finally:
            stopped.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await system.sessions.wait_ready()
        yield Running(system, store, stopped, restarts)
        assert not stopped.is_set()
        nursery.cancel_scope.cancel()


# lifecycle -------------------------------------------------------------------------


async def test_create_update_cancel(
    autojump_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    store = store_factory()
    async with running(store, TrioClock(START)) as rs:
        created = await rs.create("cs_a", ("usb_c_cable", 1), ("ebook_python_guide", 1))
        assert created.session.status is Status.READY_FOR_PAYMENT
        assert created.session.version == 1
        assert created.session.created_at == START  # wall time anchored by the TrioClock
        assert created.session.expires_at == START + timedelta(seconds=1800)
        assert (await rs.stock("usb_c_cable")).reserved == 1
        assert view(await rs.get("cs_a")) == created
        assert await store.load_session("cs_a") == created.session

        updated = view(await rs.update("cs_a", UpdateSession(lines=lines(("usb_c_cable", 2)))))
        assert updated.session.version == 2
        assert (await rs.stock("usb_c_cable")).reserved == 2

        rejected(
            await rs.ask("cs_a", Create(CreateSession("usd", lines()), MERCHANT, VERSION)),
            "session_exists",
        )
        rejected(await rs.ask("cs_a", Get("someone_else")), "not_found")
        rejected(await rs.get("cs_missing"), "not_found")

        canceled = view(await rs.cancel("cs_a"))
        assert canceled.session.status is Status.CANCELED
        assert (await rs.stock("usb_c_cable")).reserved == 0
        rejected(await rs.update("cs_a", UpdateSession(order_notes="x")), "session_canceled")
        rejected(await rs.cancel("cs_a"), "session_not_cancelable")
        rejected(await rs.complete("cs_a"), "session_canceled")
        assert await store.due_sessions(START.replace(year=2100)) == []


async def test_expiry_by_the_actors_own_timer(
    autojump_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    store = store_factory()
    clock = TrioClock(START)
    # Idle far away and the sweeper asleep after its first pass: only the timer can act.
    async with running(
        store,
        clock,
        session_ttl_seconds=60,
        actor_idle_seconds=10_000,
        expiry_sweep_seconds=100_000,
    ) as rs:
        t0 = trio.current_time()
        created = await rs.create("cs_t", ("usb_c_cable", 2))
        activation = rs.system.sessions.lookup("cs_t")
        assert activation is not None
        actor = activation.actor
        assert (await rs.stock("usb_c_cable")).reserved == 2

        await trio.sleep(59.9)
        assert await rs.status("cs_t") is Status.READY_FOR_PAYMENT
        await eventually(lambda: rs.has_status("cs_t", Status.EXPIRED), limit=1)
        assert trio.current_time() - t0 == pytest.approx(60, abs=0.05)

        stored = await store.load_session("cs_t")
        assert stored is not None
        assert stored.updated_at == stored.expires_at == created.session.expires_at
        assert (await rs.stock("usb_c_cable")).reserved == 0
        # The same incarnation did it: neither reactivated nor restarted.
        assert rs.system.sessions.lookup("cs_t") is activation
        assert activation.actor is actor and activation.restarts == 0
        snapshot = actor.snapshot if actor is not None else None
        assert isinstance(snapshot, SessionView)
        assert snapshot.session.status is Status.EXPIRED
        assert await store.due_sessions(clock.now()) == []

        got = view(await rs.get("cs_t"))
        assert got.session.status is Status.EXPIRED
        rejected(await rs.complete("cs_t"), "session_expired")
        rejected(await rs.update("cs_t", UpdateSession(order_notes="x")), "session_expired")


async def test_passivation_after_idle_and_reactivation(
    autojump_clock: trio.testing.MockClock,
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    async with running(store, TrioClock(START), actor_idle_seconds=30) as rs:
        await rs.create("cs_p", ("item_123", 2))
        updated = view(
            await rs.update(
                "cs_p", UpdateSession(buyer=Buyer(email="ada@example.com", first_name="Ada"))
            )
        )
        first = rs.system.sessions.lookup("cs_p")
        assert first is not None
        first_actor = first.actor

        # Messages keep it alive...
        for _ in range(6):
            await trio.sleep(20)
            assert view(await rs.get("cs_p")).session == updated.session
            assert rs.system.sessions.lookup("cs_p") is first
        # ... and 30 s without any passivate it.
        idle_from = trio.current_time()
        await eventually(lambda: rs.system.sessions.lookup("cs_p") is None, limit=300)
        assert trio.current_time() - idle_from == pytest.approx(30, abs=0.05)
        assert len(rs.system.sessions) == 0
        assert rs.restarts == []  # a passivation is not a crash

        # Reactivated on demand, from the store, with the state intact.
        again = view(await rs.get("cs_p"))
        second = rs.system.sessions.lookup("cs_p")
        assert second is not None and second is not first
        assert second.actor is not first_actor
        assert again.session == updated.session
        assert again.session.buyer == Buyer(email="ada@example.com", first_name="Ada")
        assert again.quote.totals == updated.quote.totals
        # and it keeps working
        done = view(await rs.complete("cs_p"))
        assert done.session.status is Status.COMPLETED


async def test_message_arriving_as_the_actor_goes_idle_is_handled(
    autojump_clock: trio.testing.MockClock,
    store_factory: StoreFactory,
) -> None:
    """Idle and expiry fall due together: while the actor expires the session (an
    inventory round trip), a request arrives, so it cannot passivate. It must go on
    to handle the request, not spin on its past deadline."""
    store = store_factory()
    async with running(
        store,
        TrioClock(START),
        session_ttl_seconds=60,
        actor_idle_seconds=60,
        expiry_sweep_seconds=100_000,
    ) as rs:
        t0 = trio.current_time()
        await rs.create("cs_i", ("usb_c_cable", 1))
        await trio.sleep_until(t0 + 60)
        replies: list[Any] = []

        async def ask() -> None:
            replies.append(await rs.get("cs_i"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            # Bounded by scheduler steps, not time: a spinning actor freezes the mock clock.
            for _ in range(1000):
                if replies:
                    break
                await trio.lowlevel.checkpoint()
            nursery.cancel_scope.cancel()
        assert len(replies) == 1, "the request was never handled"
        assert view(replies[0]).session.status is Status.EXPIRED
        assert (await rs.stock("usb_c_cable")).reserved == 0


async def test_unknown_session_id_does_not_stay_active(
    autojump_clock: trio.testing.MockClock,
    store_factory: StoreFactory,
) -> None:
    async with running(store_factory(), TrioClock(START)) as rs:
        rejected(await rs.get("cs_nope"), "not_found")
        await eventually(lambda: rs.system.sessions.lookup("cs_nope") is None, limit=1)


async def test_passivated_session_is_expired_by_the_sweeper(
    autojump_clock: trio.testing.MockClock,
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    async with running(
        store,
        TrioClock(START),
        session_ttl_seconds=60,
        actor_idle_seconds=10,
        expiry_sweep_seconds=5,
    ) as rs:
        t0 = trio.current_time()
        await rs.create("cs_s", ("usb_c_cable", 3))
        await eventually(lambda: rs.system.sessions.lookup("cs_s") is None, limit=300)
        assert trio.current_time() - t0 < 60
        assert await rs.status("cs_s") is Status.READY_FOR_PAYMENT
        assert (await rs.stock("usb_c_cable")).reserved == 3

        await eventually(lambda: rs.has_status("cs_s", Status.EXPIRED), limit=120)
        # Expired by the next sweep after the TTL, not earlier, not much later.
        assert 60 <= trio.current_time() - t0 <= 65 + 0.05
        assert (await rs.stock("usb_c_cable")).reserved == 0
        assert view(await rs.get("cs_s")).session.status is Status.EXPIRED
        # Now the stock is free for someone else.
        assert (await rs.create("cs_next", ("usb_c_cable", 3))).quote.ready


async def test_overdue_passivated_session_expires_when_read(
    autojump_clock: trio.testing.MockClock,
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    async with running(
        store,
        TrioClock(START),
        session_ttl_seconds=60,
        actor_idle_seconds=10,
        expiry_sweep_seconds=100_000,
    ) as rs:
        await rs.create("cs_r", ("usb_c_cable", 1))
        await eventually(lambda: rs.system.sessions.lookup("cs_r") is None, limit=300)
        await trio.sleep(120)
        assert await rs.status("cs_r") is Status.READY_FOR_PAYMENT  # nobody looked yet
        assert view(await rs.get("cs_r")).session.status is Status.EXPIRED
        assert await rs.status("cs_r") is Status.EXPIRED
        assert (await rs.stock("usb_c_cable")).reserved == 0


async def test_sessions_expire_after_a_restart(
    autojump_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    store = store_factory()
    clock = TrioClock(START)
    async with running(store, clock, session_ttl_seconds=60) as first:
        await first.create("cs_old", ("usb_c_cable", 2))
        await first.create("cs_ebook", ("ebook_python_guide", 1), address=None)
        assert (await first.stock("usb_c_cable")).reserved == 2
    # The process is gone (no shutdown hook ran for the sessions); time passes, and
    # with it its registration on the store (Redis keeps real time: lapse it here).
    await first.system.ownership.leave()
    await trio.sleep(300)
    old = await store.load_session("cs_old")
    assert old is not None and old.status is Status.READY_FOR_PAYMENT
    assert sorted(await store.due_sessions(clock.now())) == ["cs_ebook", "cs_old"]

    async with running(store, clock, session_ttl_seconds=60, expiry_sweep_seconds=5) as second:

        async def both_expired() -> bool:
            return all(
                [await second.has_status(sid, Status.EXPIRED) for sid in ("cs_old", "cs_ebook")]
            )

        await eventually(both_expired, limit=10)
        level = await second.stock("usb_c_cable")
        assert (level.on_hand, level.reserved) == (3, 0)  # re-seeding kept the old levels
        assert await store.due_sessions(clock.now()) == []
        assert (await second.create("cs_new", ("usb_c_cable", 3))).quote.ready


async def test_a_commit_that_loses_the_version_race_is_retryable(
    autojump_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    """Two actors of one session (a stale one that never heard of the newer
    commit): the stale writer's commit is refused by the version check and
    answered 503 with Retry-After, not a crash; its retry sees the newer state."""
    store = store_factory()
    clock = TrioClock(START)
    async with running(store, clock) as a, running(store, clock) as b:
        await a.create("cs_v", ("usb_c_cable", 1))
        assert view(await b.get("cs_v")).session.version == 1
        notes = view(await b.update("cs_v", UpdateSession(order_notes="from b")))
        assert notes.session.version == 2
        lost = rejected(await a.update("cs_v", UpdateSession(order_notes="from a")), "unavailable")
        assert (lost.status, lost.retry_after) == (503, 1)
        assert view(await b.get("cs_v")).session.order_notes == "from b"
        retried = view(await a.update("cs_v", UpdateSession(order_notes="from a")))
        assert (retried.session.version, retried.session.order_notes) == (3, "from a")


@pytest.mark.kills_actors
async def test_a_payment_actor_killed_mid_charge_never_crashes_the_session(
    autojump_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    """The session actor asked the payment actor, which dies: the request is
    answered 503 with Retry-After, the session actor lives on, and a retry pays."""
    gated = GatedProcessor()
    async with running(store_factory(), TrioClock(START), processors=[gated]) as rs:
        await rs.create("cs_p", ("usb_c_cable", 1))
        activation = rs.system.sessions.lookup("cs_p")
        outcome: list[Any] = []

        async def complete() -> None:
            outcome.append(await rs.complete("cs_p", GATED))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(complete)
            await gated.entered.wait()
            assert rs.system.kill("payment")
        refused = rejected(outcome[0], "interrupted")
        assert (refused.status, refused.retry_after) == (503, 1)
        gated.gate.set()
        assert view(await rs.complete("cs_p", GATED)).session.status is Status.COMPLETED
        assert activation is not None and activation.restarts == 0
        assert [kind for kind, _ in rs.restarts] == ["payment"]


@pytest.mark.kills_actors
async def test_an_inventory_actor_killed_mid_hold_never_crashes_the_session(
    autojump_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    store = store_factory(StoreGate)
    async with running(store, TrioClock(START)) as rs:
        await rs.create("cs_i", ("usb_c_cable", 1))
        activation = rs.system.sessions.lookup("cs_i")
        outcome: list[Any] = []

        async def update() -> None:
            outcome.append(await rs.update("cs_i", UpdateSession(lines=lines(("usb_c_cable", 2)))))

        store.gated = "hold"
        async with trio.open_nursery() as nursery:
            nursery.start_soon(update)
            await store.entered.wait()
            assert rs.system.kill("inventory")
        refused = rejected(outcome[0], "interrupted")
        assert (refused.status, refused.retry_after) == (503, 1)
        store.gate.set()
        again = view(await rs.update("cs_i", UpdateSession(lines=lines(("usb_c_cable", 2)))))
        assert again.session.lines[0].quantity == 2
        assert activation is not None and activation.restarts == 0
        assert [kind for kind, _ in rs.restarts] == ["inventory"]


class LateCommits:
    """A store mixin whose gated commit goes on after its caller is gone, as a Redis
    command in an abandoned worker thread does (it lands when Redis answers)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nursery: trio.Nursery | None = None
        self.entered = trio.Event()
        self.gate = trio.Event()
        self.landed = trio.Event()

    async def commit(self, commit: Any) -> Any:
        if self.nursery is None:
            return await super().commit(commit)  # type: ignore[misc]
        nursery, self.nursery = self.nursery, None

        async def late() -> None:
            await self.gate.wait()
            await super(LateCommits, self).commit(commit)  # type: ignore[misc]
            self.landed.set()

        nursery.start_soon(late)
        self.entered.set()
        await trio.sleep_forever()


@pytest.mark.kills_actors
async def test_a_commit_landing_after_its_actor_was_killed_is_seen_not_404(
    autojump_clock: trio.testing.MockClock, store_factory: StoreFactory, nursery: trio.Nursery
) -> None:
    """Killed mid-create, the actor restarts and loads no session; then the create's
    commit lands. The next request finds the session instead of answering 404."""
    store = store_factory(LateCommits)
    async with running(store, TrioClock(START)) as rs:
        store.nursery = nursery
        outcome: list[Any] = []

        async def create() -> None:
            try:
                outcome.append(await rs.create("cs_l", ("usb_c_cable", 1)))
            except ActorError as exc:
                outcome.append(exc)

        async with trio.open_nursery() as requests:
            requests.start_soon(create)
            await store.entered.wait()
            activation = rs.system.sessions.lookup("cs_l")
            assert rs.system.sessions.kill("cs_l")
        assert isinstance(outcome[0], ActorCrashed)
        await eventually(lambda: activation is not None and activation.restarts == 1, limit=300)
        store.gate.set()
        await store.landed.wait()
        seen = view(await rs.get("cs_l"))
        assert seen.session.version == 1
        notes = view(await rs.update("cs_l", UpdateSession(order_notes="found")))
        assert notes.session.order_notes == "found"


# crashes ---------------------------------------------------------------------------


@pytest.mark.kills_actors
async def test_restart_after_a_crash_keeps_committed_state(
    autojump_clock: trio.testing.MockClock,
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    gated = GatedProcessor()
    counting = CountingProcessor()
    async with running(store, TrioClock(START), processors=[gated, counting]) as rs:
        created = await rs.create("cs_c", ("usb_c_cable", 1), ("item_123", 1))
        activation = rs.system.sessions.lookup("cs_c")
        assert activation is not None

        # A crash of an idle actor: restarted at once from the store.
        assert rs.system.sessions.kill("cs_c")
        await eventually(lambda: activation.restarts == 1, limit=300)
        # (the state as committed; the quote's delivery dates follow the clock)
        assert view(await rs.get("cs_c")).session == created.session
        assert rs.restarts == [("session", "cs_c")]

        # A crash in the middle of a message: that message gets an error, once.
        outcome: list[Any] = []

        async def complete() -> None:
            try:
                outcome.append(await rs.complete("cs_c", GATED))
            except ActorError as exc:
                outcome.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(complete)
            await gated.entered.wait()
            assert rs.system.sessions.kill("cs_c")
        assert len(outcome) == 1 and isinstance(outcome[0], ActorCrashed)
        gated.gate.set()  # the charge finishes, but nobody is listening any more
        await eventually(lambda: activation.restarts == 2, limit=300)
        assert rs.system.sessions.lookup("cs_c") is activation

        after = view(await rs.get("cs_c"))
        assert after.session == created.session
        assert after.session.order is None
        assert await store.load_session("cs_c") == created.session
        assert (await rs.stock("usb_c_cable")).reserved == 1
        assert await store.list_events("pending") == []

        # The message was not redelivered; a new complete works normally.
        done = view(await rs.complete("cs_c"))
        assert done.session.status is Status.COMPLETED
        assert counting.charges == {"cs_c": 1}
        assert gated.calls == 1  # the crashing message was never handled again
        assert rs.system.services.restarts == 0


async def test_twenty_concurrent_completes_make_one_order(
    autojump_clock: trio.testing.MockClock,
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    counting = CountingProcessor()
    async with running(store, TrioClock(START), processors=[counting]) as rs:
        await rs.create("cs_o", ("usb_c_cable", 1), ("item_123", 2))
        replies: list[Any] = []

        async def complete() -> None:
            replies.append(await rs.complete("cs_o"))

        async with trio.open_nursery() as nursery:
            for _ in range(20):
                nursery.start_soon(complete)

        views = [view(r) for r in replies]
        assert len(views) == 20
        assert {v.session.status for v in views} == {Status.COMPLETED}
        orders = {v.session.order.id for v in views if v.session.order is not None}
        assert len(orders) == 1 and all(v.session.order is not None for v in views)
        (order_id,) = orders
        assert counting.charges == {"cs_o": 1}

        events = await store.list_events("pending")
        assert [(e.type, e.session_id, e.order_id) for e in events] == [
            ("order_create", "cs_o", order_id)
        ]
        order = await store.load_order(order_id)
        assert order is not None and order == views[0].session.order
        assert {(line.product_id, line.quantity) for line in order.lines} == {
            ("usb_c_cable", 1),
            ("item_123", 2),
        }
        assert order.payment.amount == views[0].quote.total
        cable = await rs.stock("usb_c_cable")
        assert (cable.on_hand, cable.reserved) == (2, 0)
        mouse = await rs.stock("item_123")
        assert (mouse.on_hand, mouse.reserved) == (248, 0)


async def test_declined_payment_leaves_the_session_payable(
    autojump_clock: trio.testing.MockClock,
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    async with running(store, TrioClock(START)) as rs:
        await rs.create("cs_d", ("usb_c_cable", 1))
        declined = view(await rs.complete("cs_d", DECLINE))
        assert declined.session.status is Status.READY_FOR_PAYMENT
        assert declined.session.order is None
        (message,) = [m for m in declined.quote.messages if m.code == "payment_declined"]
        assert not message.blocking
        assert "tok_test" not in message.content  # never the token
        assert declined.quote.ready
        assert await store.list_events("pending") == []
        assert (await rs.stock("usb_c_cable")).reserved == 1  # still held for the buyer
        assert view(await rs.get("cs_d")).session == declined.session

        # The buyer can pay again; the decline notice goes with the success.
        paid = view(await rs.complete("cs_d"))
        assert paid.session.status is Status.COMPLETED
        assert "payment_declined" not in codes(paid)
        assert len(await store.list_events("pending")) == 1


async def test_concurrent_sessions_never_reserve_more_than_stock(
    autojump_clock: trio.testing.MockClock,
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    async with running(store, TrioClock(START)) as rs:
        views: dict[str, SessionView] = {}

        async def create(i: int) -> None:
            views[f"cs_{i}"] = await rs.create(f"cs_{i}", ("usb_c_cable", 1 + i % 2))

        async with trio.open_nursery() as nursery:
            for i in range(12):
                nursery.start_soon(create, i)

        ready = {sid for sid, v in views.items() if v.quote.ready}
        short = {sid for sid, v in views.items() if "out_of_stock" in codes(v)}
        assert ready.isdisjoint(short) and ready | short == set(views)
        held = sum(views[sid].session.lines[0].quantity for sid in ready)
        assert held == 3  # one-unit sessions always fill the last unit
        assert (await rs.stock("usb_c_cable")).reserved == 3

        # A cancel frees units; short sessions retrying get exactly those, no more.
        given_back = sorted(ready)[0]
        freed = int(views[given_back].session.lines[0].quantity)
        view(await rs.cancel(given_back))
        ready.discard(given_back)
        assert (await rs.stock("usb_c_cable")).reserved == 3 - freed
        now_ready: set[str] = set()
        for sid in sorted(short):
            retried = view(await rs.update(sid, UpdateSession(lines=lines(("usb_c_cable", 1)))))
            if retried.quote.ready:
                now_ready.add(sid)
            else:
                assert "out_of_stock" in codes(retried)
            assert (await rs.stock("usb_c_cable")).reserved <= 3
        assert len(now_ready) == freed
        ready |= now_ready
        assert (await rs.stock("usb_c_cable")).reserved == 3

        for sid in sorted(ready):
            assert view(await rs.complete(sid)).session.status is Status.COMPLETED

        async def sold_out() -> bool:  # the units are sold just after each answer
            cable = await rs.stock("usb_c_cable")
            return (cable.on_hand, cable.reserved) == (0, 0)

        await eventually(sold_out)
        sold = 0
        for sid in views:
            stored = await store.load_session(sid)
            assert stored is not None
            if stored.order is not None:
                sold += sum(line.quantity for line in stored.order.lines)
        assert sold == 3


@pytest.mark.kills_actors
@pytest.mark.parametrize("operation", ["update", "cancel"])
async def test_crash_between_stock_change_and_commit_cannot_oversell(
    autojump_clock: trio.testing.MockClock, store_factory: StoreFactory, operation: str
) -> None:
    """A kill while the inventory applies a hold or release leaves the committed
    lines and the holds apart; paying must not sell units that are not held."""
    store = store_factory(StoreGate)
    async with running(store, TrioClock(START)) as rs:
        a = await rs.create("cs_a", ("usb_c_cable", 3))
        assert a.quote.ready

        store.gated = "hold" if operation == "update" else "release"
        outcome: list[Any] = []

        async def interrupted() -> None:
            try:
                if operation == "update":
                    outcome.append(
                        await rs.update("cs_a", UpdateSession(lines=lines(("usb_c_cable", 1))))
                    )
                else:
                    outcome.append(await rs.cancel("cs_a"))
            except ActorError as exc:
                outcome.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(interrupted)
            await store.entered.wait()
            assert rs.system.sessions.kill("cs_a")
        assert len(outcome) == 1 and isinstance(outcome[0], ActorCrashed)
        store.gate.set()  # the inventory change goes through; its commit never happened
        assert view(await rs.get("cs_a")).session == a.session

        free = (await rs.stock("usb_c_cable")).available
        b = await rs.create("cs_b", ("usb_c_cable", free))
        assert b.quote.ready
        assert view(await rs.complete("cs_b")).session.status is Status.COMPLETED

        paid = view(await rs.complete("cs_a"))
        sold = 0
        for sid in ("cs_a", "cs_b"):
            stored = await store.load_session(sid)
            assert stored is not None
            if stored.order is not None:
                sold += sum(line.quantity for line in stored.order.lines)
        cable = await rs.stock("usb_c_cable")
        assert sold <= 3, f"sold {sold} cables of 3"
        assert cable.on_hand == 3 - sold
        assert paid.session.status is Status.NOT_READY_FOR_PAYMENT
        assert "out_of_stock" in codes(paid)


@pytest.mark.kills_actors
async def test_storm_of_kills_leaves_the_process_serving(
    autojump_clock: trio.testing.MockClock,
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    rng = random.Random(20260115)
    async with running(store, TrioClock(START)) as rs:
        registry = rs.system.sessions
        acked: dict[str, SessionView] = {}  # last acknowledged state per session
        uncertain: set[str] = set()  # an ask failed after the last acknowledgement
        failures: dict[str, int] = {}
        kills = 0
        stop = trio.Event()

        async def worker(w: int) -> None:
            n = 0
            while not stop.is_set():
                sid = f"cs_{w}_{n}"
                n += 1
                try:
                    acked[sid] = await rs.create(
                        sid, ("test", rng.randint(1, 3)), ("item_123", rng.randint(1, 2))
                    )
                    for _ in range(rng.randint(1, 4)):
                        change = rng.choice(["lines", "buyer", "notes"])
                        if change == "lines":
                            command = UpdateSession(lines=lines(("test", rng.randint(1, 4))))
                        elif change == "buyer":
                            command = UpdateSession(buyer=Buyer(email=f"b{w}.{n}@example.com"))
                        else:
                            command = UpdateSession(order_notes=f"note {rng.random()}")
                        acked[sid] = view(await rs.update(sid, command))
                except ActorError as exc:
                    failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                    uncertain.add(sid)
                await trio.lowlevel.checkpoint()

        async def killer() -> None:
            nonlocal kills
            for _ in range(600):
                live = sorted(registry.live())
                if live and registry.kill(rng.choice(live)):
                    kills += 1
                await trio.lowlevel.checkpoint()
            stop.set()

        async with trio.open_nursery() as nursery:
            for w in range(8):
                nursery.start_soon(worker, w)
            nursery.start_soon(killer)

        # The storm really happened: many crashes, and the registry restarted its subtree.
        assert kills >= 300
        session_restarts = sum(1 for kind, _ in rs.restarts if kind == "session")
        assert session_restarts >= 50
        assert registry.subtree_restarts >= 1
        assert sum(failures.values()) > 0
        assert len(acked) >= 50

        # The process still serves: the root runs, services answer, sessions can be made.
        assert not rs.stopped.is_set()
        await eventually(lambda: registry.running, limit=1)
        assert rs.system.services.restarts == 0
        level = await rs.system.inventory.ask(GetStock("test"), TIMEOUT)
        assert level.on_hand == 1000
        fresh = await rs.create("cs_after_storm", ("usb_c_cable", 1))
        assert fresh.quote.ready

        # Every acknowledged state is intact.
        for sid, last in acked.items():
            now = view(await rs.get(sid))
            if sid in uncertain:
                assert now.session.version >= last.session.version
            else:
                assert now.session == last.session
            assert await store.load_session(sid) == now.session

        # Holds never exceed stock, and paying for everything sells exactly what is held.
        for product in ("test", "item_123"):
            level = await rs.stock(product)
            assert level.reserved <= level.on_hand
        sold: dict[str, int] = {}
        completed = 0
        for sid in sorted(acked):
            done = view(await rs.complete(sid))
            if done.session.order is None:  # the storm's sessions can outnumber the stock
                assert done.session.status is Status.NOT_READY_FOR_PAYMENT
                assert "out_of_stock" in codes(done)
                continue
            assert done.session.status is Status.COMPLETED
            completed += 1
            for line in done.session.order.lines:
                sold[line.product_id] = sold.get(line.product_id, 0) + line.quantity
        assert completed >= 50

        async def all_sold() -> bool:
            for product, units in sold.items():
                level = await rs.stock(product)
                if level.on_hand != CATALOG.products[product].stock - units:
                    return False
            return True

        await eventually(all_sold)
        assert not rs.stopped.is_set()


@pytest.mark.parametrize("fresh", [True, False])
async def test_a_create_whose_key_found_no_session_does_not_load_one(
    autojump_clock: trio.testing.MockClock,
    store_factory: StoreFactory,
    monkeypatch: pytest.MonkeyPatch,
    fresh: bool,
) -> None:
    store = store_factory()
    loads: list[str] = []
    load = store.load_session

    async def counted(session_id: str) -> Any:
        loads.append(session_id)
        return await load(session_id)

    monkeypatch.setattr(store, "load_session", counted)
    async with running(store, TrioClock(START)) as rs:
        answer = Answer("cs_f\x1fkey", "digest", 201, 2e9, VERSION, fresh)
        command = CreateSession("usd", lines(("item_123", 1)))
        created = view(await rs.ask("cs_f", Create(command, MERCHANT, VERSION, answer)))
        assert loads == ([] if fresh else ["cs_f"])
        assert await store.load_session("cs_f") == created.session
        assert (await store.load_idempotency("cs_f\x1fkey")) is not None  # answer recorded
