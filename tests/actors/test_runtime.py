"""The actor runtime: tell/ask, bounded mailboxes, crashes and kills (under MockClock)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.testing

from agentic_commerce.actors.runtime import (
    Actor,
    ActorCrashed,
    ActorError,
    ActorHandle,
    ActorKilled,
    ActorRef,
    ActorStopped,
    AskTimeout,
    Mailbox,
    MailboxFull,
    Reply,
    run_actor,
)
from tests.waiting import eventually


class Probe(Actor):
    """Echoes, counts, blocks on a gate or crashes, as its messages say."""

    def __init__(self) -> None:
        super().__init__("probe")
        self.seen: list[Any] = []
        self.entered = trio.Event()
        self.gate = trio.Event()
        self.starts = 0

    async def started(self) -> None:
        self.starts += 1

    async def receive(self, message: Any) -> Any:
        self.seen.append(message)
        match message:
            case ("echo", value):
                return value
            case "boom":
                raise ValueError("boom")
            case "block":
                self.entered.set()
                await self.gate.wait()
                return "unblocked"
            case "forever":
                self.entered.set()
                await trio.sleep_forever()
        return None


async def run_until_cancelled(actor: Actor, mailbox: Mailbox, errors: list[BaseException]) -> None:
    """Keep restarting `actor` on the same mailbox after each crash, like a supervisor."""
    while True:
        try:
            await run_actor(actor, mailbox)
        except Exception as exc:
            errors.append(exc)
            continue
        return


async def test_tell_and_ask(autojump_clock: trio.testing.MockClock) -> None:
    mailbox = Mailbox(8)
    ref = ActorRef("probe", mailbox)
    probe = Probe()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_actor, probe, mailbox)
        ref.tell(("echo", 1))
        ref.tell(("echo", 2))
        assert await ref.ask(("echo", "three"), timeout=1) == "three"
        assert probe.seen == [("echo", 1), ("echo", 2), ("echo", "three")]  # in order
        nursery.cancel_scope.cancel()


async def test_ask_timeout(autojump_clock: trio.testing.MockClock) -> None:
    mailbox = Mailbox(8)
    ref = ActorRef("probe", mailbox)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_actor, Probe(), mailbox)
        start = trio.current_time()
        with pytest.raises(AskTimeout, match="probe"):
            await ref.ask("forever", timeout=2.5)
        assert trio.current_time() - start == pytest.approx(2.5)
        nursery.cancel_scope.cancel()


async def test_ask_of_an_actor_that_never_runs_times_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ref = ActorRef("nobody", Mailbox(1))
    with pytest.raises(AskTimeout):
        await ref.ask("hello", timeout=1)


async def test_full_mailbox_refuses_at_once(autojump_clock: trio.testing.MockClock) -> None:
    mailbox = Mailbox(2)
    ref = ActorRef("probe", mailbox)
    probe = Probe()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_actor, probe, mailbox)
        ref.tell("block")
        await probe.entered.wait()  # the actor is busy; the mailbox is empty
        ref.tell(("echo", 1))
        ref.tell(("echo", 2))
        assert mailbox.depth == 2
        before = trio.current_time()
        with pytest.raises(MailboxFull, match="probe"):
            ref.tell(("echo", 3))
        with pytest.raises(MailboxFull):
            await ref.ask(("echo", 4), timeout=100)
        assert trio.current_time() == before  # refused, not waited for
        probe.gate.set()
        await trio.testing.wait_all_tasks_blocked()  # the actor drains its mailbox
        assert mailbox.depth == 0
        assert await ref.ask(("echo", 5), timeout=1) == 5
        assert probe.seen == ["block", ("echo", 1), ("echo", 2), ("echo", 5)]
        nursery.cancel_scope.cancel()


async def test_crashing_message_is_answered_and_not_redelivered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox = Mailbox(8)
    ref = ActorRef("probe", mailbox)
    probe = Probe()
    errors: list[BaseException] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_until_cancelled, probe, mailbox, errors)
        with pytest.raises(ActorCrashed, match="ValueError"):
            await ref.ask("boom", timeout=1)
        assert await ref.ask(("echo", "after"), timeout=1) == "after"
        assert probe.seen == ["boom", ("echo", "after")]
        assert probe.starts == 2
        assert [type(e) for e in errors] == [ValueError]
        nursery.cancel_scope.cancel()


async def test_crash_on_a_told_message_keeps_later_messages(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox = Mailbox(8)
    ref = ActorRef("probe", mailbox)
    probe = Probe()
    errors: list[BaseException] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_until_cancelled, probe, mailbox, errors)
        ref.tell("boom")
        ref.tell(("echo", 1))
        assert await ref.ask(("echo", 2), timeout=1) == 2
        assert probe.seen == ["boom", ("echo", 1), ("echo", 2)]
        assert len(errors) == 1
        nursery.cancel_scope.cancel()


async def test_run_actor_raises_the_crash(autojump_clock: trio.testing.MockClock) -> None:
    mailbox = Mailbox(8)
    ActorRef("probe", mailbox).tell("boom")
    with pytest.raises(ValueError, match="boom"):
        await run_actor(Probe(), mailbox)


async def test_killed_actor_fails_the_pending_ask(autojump_clock: trio.testing.MockClock) -> None:
    mailbox = Mailbox(8)
    ref = ActorRef("probe", mailbox)
    probe = Probe()
    handle = ActorHandle()
    outcome: list[BaseException] = []

    async def run() -> None:
        try:
            await run_actor(probe, mailbox, handle)
        except BaseException as exc:
            outcome.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        reply: list[BaseException] = []

        async def asker() -> None:
            try:
                await ref.ask("forever", timeout=60)
            except ActorCrashed as exc:
                reply.append(exc)

        nursery.start_soon(asker)
        await probe.entered.wait()
        start = trio.current_time()
        handle.kill()
    assert len(reply) == 1 and "probe" in str(reply[0])
    assert trio.current_time() == start  # failed at once, not by the ask timeout
    assert [type(e) for e in outcome] == [ActorKilled]


async def test_kill_of_an_idle_actor_counts_as_a_crash(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox = Mailbox(8)
    handle = ActorHandle()
    handle.kill()  # not running yet: nothing to kill
    async with trio.open_nursery() as nursery:

        async def run() -> None:
            with pytest.raises(ActorKilled):
                await run_actor(Probe(), mailbox, handle)

        nursery.start_soon(run)
        await trio.testing.wait_all_tasks_blocked()
        assert handle.scope is not None
        handle.kill()


async def test_closed_mailbox_and_fail_pending(autojump_clock: trio.testing.MockClock) -> None:
    mailbox = Mailbox(8)
    ref = ActorRef("probe", mailbox)
    replies: list[BaseException] = []

    async def asker() -> None:
        try:
            await ref.ask("hello", timeout=60)
        except ActorStopped as exc:
            replies.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(asker)
        nursery.start_soon(asker)
        await trio.testing.wait_all_tasks_blocked()
        assert mailbox.depth == 2
        mailbox.fail_pending(ActorStopped("gone"))
    assert len(replies) == 2
    assert mailbox.depth == 0
    mailbox.send.close()
    with pytest.raises(ActorStopped):
        ref.tell("late")


async def test_an_actor_whose_mailbox_closes_while_it_waits_ends_normally(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A closed mailbox means the actor was passivated or stopped: `run_actor`
    returns (a supervisor does not restart it), it does not raise."""
    mailbox = Mailbox(8)
    probe = Probe()
    async with trio.open_nursery() as nursery:
        ended = trio.Event()

        async def run() -> None:
            await run_actor(probe, mailbox)
            ended.set()

        nursery.start_soon(run)
        await trio.testing.wait_all_tasks_blocked()
        mailbox.send.close()
        with trio.fail_after(1):
            await ended.wait()


def test_reply_is_set_once() -> None:
    async def main() -> None:
        reply: Reply[int] = Reply()
        assert not reply.done
        reply.set(1)
        reply.set(2)
        reply.fail(RuntimeError("late"))
        assert reply.done
        assert await reply.wait() == 1

        failed: Reply[int] = Reply()
        failed.fail(KeyError("k"))
        failed.set(3)
        with pytest.raises(KeyError):
            await failed.wait()

    trio.run(main)


class Ticker(Actor):
    """Runs `on_deadline` every `period` seconds; stops after `stop_after` ticks."""

    def __init__(self, period: float, stop_after: int) -> None:
        super().__init__("ticker")
        self.period = period
        self.stop_after = stop_after
        self.ticks: list[float] = []
        self.next = math.inf

    async def started(self) -> None:
        self.next = trio.current_time() + self.period

    def deadline(self) -> float:
        return self.next

    async def on_deadline(self) -> bool:
        self.ticks.append(trio.current_time())
        self.next += self.period
        return len(self.ticks) >= self.stop_after

    async def receive(self, message: Any) -> Any:
        return len(self.ticks)


async def test_deadline_runs_on_time_and_can_stop_the_actor(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox = Mailbox(8)
    ref = ActorRef("ticker", mailbox)
    ticker = Ticker(period=10, stop_after=3)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_actor, ticker, mailbox)
        await trio.sleep(15)
        assert await ref.ask("count", timeout=1) == 1  # a message does not reset the timer
    # run_actor returned normally (no exception) after the third tick.
    assert [t - start for t in ticker.ticks] == pytest.approx([10, 20, 30])


class Router(Probe):
    """A probe that handles two messages at once (like the payment actor)."""

    concurrency = 2

    def __init__(self) -> None:
        super().__init__()
        self.inside = 0

    async def receive(self, message: Any) -> Any:
        self.inside += 1
        try:
            return await super().receive(message)
        finally:
            self.inside -= 1


async def test_concurrent_actor_handles_messages_at_once_up_to_its_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox = Mailbox(8)
    ref = ActorRef("router", mailbox)
    router = Router()
    replies: list[Any] = []

    async def ask(message: Any) -> None:
        replies.append(await ref.ask(message, timeout=60))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_actor, router, mailbox)
        async with trio.open_nursery() as askers:
            for _ in range(3):
                askers.start_soon(ask, "block")
            await router.entered.wait()
            await trio.testing.wait_all_tasks_blocked()
            assert router.inside == 2  # the third waits for a free slot
            assert router.seen == ["block", "block"]
            router.gate.set()
        assert replies == ["unblocked"] * 3
        nursery.cancel_scope.cancel()


async def test_killed_concurrent_actor_fails_its_asks_and_keeps_the_rest(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox = Mailbox(8)
    ref = ActorRef("router", mailbox)
    handle = ActorHandle()
    router = Router()
    outcomes: list[Any] = []

    async def ask(message: Any) -> None:
        try:
            outcomes.append(await ref.ask(message, timeout=60))
        except ActorError as exc:
            outcomes.append(type(exc))

    async def run() -> None:
        with pytest.raises(ActorKilled):
            await run_actor(router, mailbox, handle)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        async with trio.open_nursery() as askers:
            askers.start_soon(ask, "forever")
            askers.start_soon(ask, "forever")
            await trio.testing.wait_all_tasks_blocked()
            askers.start_soon(ask, ("echo", "later"))
            await trio.testing.wait_all_tasks_blocked()
            start = trio.current_time()
            handle.kill()
            await trio.testing.wait_all_tasks_blocked()
            # Both messages being handled failed at once; none waited for its timeout.
            assert outcomes == [ActorCrashed, ActorCrashed]
            assert trio.current_time() == start
            # The message not yet taken up is still there for the next incarnation.
            replacement = Router()
            nursery.start_soon(run_actor, replacement, mailbox)
        assert outcomes == [ActorCrashed, ActorCrashed, "later"]
        assert replacement.seen == [("echo", "later")]
        nursery.cancel_scope.cancel()


class KeyedRouter(Actor):
    """Handles many messages at once; those of one key in mailbox order."""

    concurrency = 16

    def __init__(self) -> None:
        super().__init__("keyed")
        self.done: list[tuple[str, int]] = []
        self.inside = 0
        self.most_inside = 0

    def order_key(self, message: tuple[str, int, int]) -> str:
        return message[0]

    async def receive(self, message: tuple[str, int, int]) -> None:
        key, n, pause = message
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        await trio.sleep(pause)  # a later message of the key would finish first
        self.inside -= 1
        self.done.append((key, n))


async def test_a_concurrent_actor_keeps_the_order_of_each_key(
    autojump_clock: trio.testing.MockClock,
) -> None:
    mailbox = Mailbox(64)
    ref = ActorRef("keyed", mailbox)
    actor = KeyedRouter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_actor, actor, mailbox)
        for n in range(5):  # a waiting message holds a slot: 15 of 16
            for key in ("a", "b", "c"):
                ref.tell((key, n, 5 - n))  # each one quicker than the one before
        await ref.ask(("d", 0, 4), timeout=60)  # a key of its own runs beside them
        await eventually(lambda: len(actor.done) == 16)
        for key in ("a", "b", "c"):
            assert [n for k, n in actor.done if k == key] == list(range(5))
        assert actor.done.index(("d", 0)) < actor.done.index(("a", 4))  # not queued behind
        assert actor.most_inside == 4  # one per key at a time, all keys at once
        nursery.cancel_scope.cancel()
