"""A store that stops answering (`StoreUnavailable`): the actors answer 503 and
carry on; nothing crashes, nothing spends restart intensity, and service resumes
by itself once the store answers again."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from agentic_commerce.actors.clock import TrioClock
from agentic_commerce.actors.session import Create
from agentic_commerce.domain.commands import CreateSession, UpdateSession
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.model import Status
from tests.actors.test_sessions import (
    MERCHANT,
    START,
    VERSION,
    eventually,
    lines,
    running,
    view,
)
from tests.stores import StoreFactory, StoreOutage


def unavailable(reply: Any) -> RequestRejected:
    assert isinstance(reply, RequestRejected), reply
    assert (reply.status, reply.type, reply.retry_after) == (503, "service_unavailable", 1)
    return reply


async def test_a_failed_commit_is_a_503_and_the_state_stays_committed(
    autojump_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    store = store_factory(StoreOutage)
    async with running(store, TrioClock(START)) as rs:
        created = await rs.create("cs_a", ("test", 1))
        store.down = frozenset({"commit"})
        unavailable(await rs.update("cs_a", UpdateSession(order_notes="lost")))
        unavailable(await rs.complete("cs_a"))
        store.down = frozenset()
        assert view(await rs.get("cs_a")).session == created.session
        updated = view(await rs.update("cs_a", UpdateSession(order_notes="kept")))
        assert updated.session.version == created.session.version + 1
        assert rs.restarts == []


async def test_a_failed_load_answers_503_and_passivates_instead_of_crash_looping(
    autojump_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    store = store_factory(StoreOutage)
    async with running(store, TrioClock(START), actor_idle_seconds=10) as rs:
        await rs.create("cs_a", ("test", 1))
        await eventually(lambda: rs.system.sessions.lookup("cs_a") is None)  # passivated
        store.down = frozenset({"load_session"})
        replies: list[Any] = []

        async def get() -> None:
            replies.append(await rs.get("cs_a"))

        async with trio.open_nursery() as nursery:  # several messages queue up meanwhile
            for _ in range(5):
                nursery.start_soon(get)
        assert len(replies) == 5
        for reply in replies:
            unavailable(reply)
        await eventually(lambda: rs.system.sessions.lookup("cs_a") is None)
        assert rs.restarts == []

        store.down = frozenset()
        assert view(await rs.get("cs_a")).session.status is Status.READY_FOR_PAYMENT


async def test_inventory_failures_are_503s_and_never_restart_the_services(
    autojump_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    store = store_factory(StoreOutage)
    async with running(store, TrioClock(START)) as rs:
        store.down = frozenset({"hold", "release"})
        command = CreateSession("usd", lines(("test", 1)))
        for n in range(10):  # more than the services supervisor's restart intensity
            unavailable(await rs.ask(f"cs_{n}", Create(command, MERCHANT, VERSION)))
        store.down = frozenset()
        assert (await rs.create("cs_ok", ("test", 1))).quote.ready
        assert rs.system.services.restarts == 0


async def test_the_sweeper_waits_out_an_outage(
    autojump_clock: trio.testing.MockClock, store_factory: StoreFactory
) -> None:
    store = store_factory(StoreOutage)
    async with running(
        store,
        TrioClock(START),
        session_ttl_seconds=60,
        actor_idle_seconds=10,
        expiry_sweep_seconds=5,
    ) as rs:
        await rs.create("cs_s", ("test", 1))
        await eventually(lambda: rs.system.sessions.lookup("cs_s") is None)
        store.down = frozenset({"due_sessions"})
        await trio.sleep(120)  # many sweeps fail
        assert await rs.status("cs_s") is Status.READY_FOR_PAYMENT
        store.down = frozenset()
        await eventually(lambda: rs.has_status("cs_s", Status.EXPIRED), limit=10)
        assert rs.system.services.restarts == 0
        assert rs.restarts == []
