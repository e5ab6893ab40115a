"""The actor runtime: bounded mailboxes, tell and ask, and the loop that runs an actor.

An actor is one trio task that alone owns its state. Callers reach it through an
`ActorRef`: `tell` drops a message in the mailbox, `ask` also waits (bounded)
for the reply, which comes back through a one-shot `Reply` slot (an event and
a value, cheaper than a channel per request). A full mailbox is refused at
once with `MailboxFull`; nothing ever queues without bound.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import trio

from agentic_commerce import tracing

T = TypeVar("T")


class ActorError(Exception):
    """Base of the typed failures a caller of an actor can see."""


class MailboxFull(ActorError):
    """The actor's mailbox is full; retry later (HTTP 503)."""


class AskTimeout(ActorError):
    """No reply within the ask timeout (HTTP 503)."""


class ActorCrashed(ActorError):
    """The actor failed while handling this message; the message is not redelivered."""


class ActorStopped(ActorError):
    """The actor stopped before it handled the message."""


class Reply(Generic[T]):
    """A one-shot reply slot: set (or failed) once, awaited once."""

    __slots__ = ("_error", "_event", "_value")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self._event.is_set()

    def set(self, value: T) -> None:
        if not self._event.is_set():
            self._value = value
            self._event.set()

    def fail(self, error: BaseException) -> None:
        if not self._event.is_set():
            self._error = error
            self._event.set()

    async def wait(self) -> T:
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


@dataclass(slots=True)
class Envelope:
    message: Any
    reply: Reply[Any] | None
    sent: tracing.Sent | None = None  # the sender's trace, when tracing: see `tracing.handling`


class Mailbox:
    """The bounded channel pair of one actor; it outlives restarts of the actor."""

    def __init__(self, size: int) -> None:
        self.send, self.receive = trio.open_memory_channel[Envelope](size)

    @property
    def depth(self) -> int:
        return int(self.receive.statistics().current_buffer_used)

    def fail_pending(self, error: ActorError) -> None:
        """Answer every queued ask with `error` (used when the actor is gone for good)."""
        while True:
            try:
                envelope = self.receive.receive_nowait()
            except (trio.WouldBlock, trio.ClosedResourceError, trio.EndOfChannel):
                return
            if envelope.reply is not None:
                envelope.reply.fail(error)


class ActorRef:
    """The address of an actor."""

    __slots__ = ("mailbox", "name")

    def __init__(self, name: str, mailbox: Mailbox) -> None:
        self.name = name
        self.mailbox = mailbox

    def _post(self, envelope: Envelope) -> None:
        try:
            self.mailbox.send.send_nowait(envelope)
        except trio.WouldBlock:
            raise MailboxFull(f"mailbox of {self.name} is full") from None
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise ActorStopped(f"{self.name} has stopped") from None

    def tell(self, message: Any) -> None:
        self._post(Envelope(message, None, tracing.sent()))

    async def ask(self, message: Any, timeout: float) -> Any:
        reply: Reply[Any] = Reply()
        self._post(Envelope(message, reply, tracing.sent()))
        with trio.move_on_after(timeout):
            return await reply.wait()
        raise AskTimeout(f"{self.name} did not answer within {timeout:g}s")


class Actor:
    """Base class: override `receive`; optionally `started`, `deadline` and `on_deadline`.

    `snapshot` is the last committed state, published for reads that need no
    mailbox round trip; it must be an immutable value.
    """

    kind: ClassVar[str] = "actor"
    # Messages handled at once. 1 (the default) is a classic actor; more suits a
    # stateless router whose messages wait on IO (the payment actor).
    concurrency: int = 1

    def __init__(self, name: str) -> None:
        self.name = name
        self.snapshot: Any = None
        self.busy = 0  # messages being handled now
        self.last_active = trio.current_time() if _in_trio() else 0.0

    async def started(self) -> None:
        """Load state; runs at every (re)start before the first message."""

    async def receive(self, message: Any) -> Any:
        raise NotImplementedError

    def order_key(self, message: Any) -> Hashable | None:
        """Of a concurrent actor: messages with the same key are handled one after
        another, in mailbox order (None: no order is kept)."""
        return None

    def deadline(self) -> float:
        """trio time at which `on_deadline` runs if no message arrives first."""
        return math.inf

    async def on_deadline(self) -> bool:
        """Handle a timer; return True to stop the actor normally."""
        return False

    async def stopped(self) -> None:
        """Release resources (connections); runs however the actor ended, shielded."""


def _in_trio() -> bool:
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


class ActorKilled(Exception):
    """Raised inside an actor's task by `ActorHandle.kill` (used by tests and operators)."""


class ActorHandle:
    """Control of one running incarnation of an actor: kill it as if it crashed."""

    def __init__(self) -> None:
        self.scope: trio.CancelScope | None = None

    def kill(self) -> None:
        if self.scope is not None:
            self.scope.cancel()


async def _handle(actor: Actor, envelope: Envelope) -> None:
    """Handle one message; if it raises, its asker gets `ActorCrashed` (no redelivery)."""
    actor.busy += 1
    actor.last_active = trio.current_time()
    message = envelope.message
    try:
        with tracing.handling(envelope.sent, actor.kind, actor.name, type(message).__name__):
            result = await actor.receive(message)
    except BaseException as exc:
        if envelope.reply is not None:
            envelope.reply.fail(ActorCrashed(f"{actor.name} crashed: {type(exc).__name__}"))
        raise
    finally:
        actor.busy -= 1
    if envelope.reply is not None:
        envelope.reply.set(result)


async def _run_concurrent(actor: Actor, mailbox: Mailbox) -> None:
    slots = trio.Semaphore(actor.concurrency)
    # Per order key, the end of the last message taken: the next one waits for it
    # (trio starts new tasks in no particular order, so this is what keeps the order).
    tails: dict[Hashable, trio.Event] = {}

    async def handle(
        envelope: Envelope, key: Hashable, done: trio.Event | None, after: trio.Event | None
    ) -> None:
        try:
            if after is not None:
                await after.wait()  # the previous message with this key
            await _handle(actor, envelope)
        finally:
            slots.release()
            if done is not None:
                done.set()
                if tails.get(key) is done:
                    del tails[key]

    async with trio.open_nursery() as nursery:
        while True:
            # A slot first: a message taken from the mailbox is always handled, so a
            # crash or kill never strands one unanswered (the rest wait in the mailbox).
            # What is at hand is taken without yielding: a queue drains in one pass.
            try:
                slots.acquire_nowait()
            except trio.WouldBlock:
                await slots.acquire()
            try:
                envelope = mailbox.receive.receive_nowait()
            except trio.WouldBlock:
                try:
                    envelope = await mailbox.receive.receive()
                except trio.EndOfChannel:
                    return
            except trio.EndOfChannel:
                return
            key = actor.order_key(envelope.message)
            done = after = None
            if key is not None:
                done, after = trio.Event(), tails.get(key)
                tails[key] = done
            nursery.start_soon(handle, envelope, key, done, after)


async def _run_serial(actor: Actor, mailbox: Mailbox) -> None:
    """One message at a time, with the actor's timer between messages."""
    current: Envelope | None = None
    try:
        while True:
            current = None
            with trio.move_on_at(actor.deadline()) as timer:
                try:
                    current = await mailbox.receive.receive()
                except trio.EndOfChannel:  # passivated or stopped: an end, not a crash
                    return
            if timer.cancelled_caught:
                if await actor.on_deadline():
                    return
                continue
            assert current is not None
            await _handle(actor, current)
    except BaseException as exc:
        if current is not None and current.reply is not None:
            current.reply.fail(ActorCrashed(f"{actor.name} crashed: {type(exc).__name__}"))
        raise


async def run_actor(
    actor: Actor,
    mailbox: Mailbox,
    handle: ActorHandle | None = None,
    woken_by: tracing.Sent | None = None,
) -> None:
    """Run `actor` until it stops normally; an exception means it crashed.

    The message being handled when the actor crashes (or is killed) gets an
    `ActorCrashed` reply and is not redelivered. `woken_by`: the trace of the
    request that activated the actor, which its start (the state's load) is part of.
    """
    handle = handle or ActorHandle()
    try:
        with trio.CancelScope() as scope:
            handle.scope = scope
            with tracing.handling(woken_by, actor.kind, actor.name, "activate", waited=False):
                await actor.started()
            if actor.concurrency > 1:
                await _run_concurrent(actor, mailbox)
            else:
                await _run_serial(actor, mailbox)
            return
        # Only `ActorHandle.kill` cancels this scope: count it as a crash.
        raise ActorKilled(actor.name)
    finally:
        with trio.CancelScope(shield=True):
            await actor.stopped()
