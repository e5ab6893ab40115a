"""Actor messages carry their sender's trace into the actor's task: the wait in the
mailbox and the handling are spans of the sender's trace, whatever task runs them."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import pytest
import trio
from opentelemetry.sdk.trace import ReadableSpan

from agentic_commerce import tracing
from agentic_commerce.actors.runtime import Actor, ActorCrashed, ActorRef, Mailbox, run_actor
from tests.traces import AGENT_TRACEPARENT, named, one, parent_of, recorded_spans, span_id
from tests.waiting import eventually

UNSAMPLED = AGENT_TRACEPARENT[:-2] + "00"


class Relay(Actor):
    """Answers, asks another actor first, or fails, as its messages say."""

    def __init__(self, name: str, concurrency: int = 1, next_ref: ActorRef | None = None) -> None:
        super().__init__(name)
        self.concurrency = concurrency
        self.next_ref = next_ref
        self.trace_ids: list[str | None] = []

    async def receive(self, message: Any) -> Any:
        self.trace_ids.append(tracing.traceparent())
        if message == "boom":
            raise ValueError("boom")
        if message == "relay" and self.next_ref is not None:
            return await self.next_ref.ask("echo", 5)
        return message


def started(nursery: trio.Nursery, actor: Actor) -> ActorRef:
    """`actor` in a task of the nursery (its context is the nursery's, no request's);
    a crash ends it quietly."""
    mailbox = Mailbox(8)

    async def run() -> None:
        with contextlib.suppress(ValueError):
            await run_actor(actor, mailbox)

    nursery.start_soon(run)
    return ActorRef(actor.name, mailbox)


def of(spans: Sequence[ReadableSpan], actor: str) -> dict[str, list[ReadableSpan]]:
    """The spans of one actor, by name."""
    found: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        if (span.attributes or {}).get("acs.actor.name") == actor:
            found.setdefault(span.name, []).append(span)
    return found


async def test_the_handling_is_a_child_of_the_senders_span(nursery: trio.Nursery) -> None:
    with recorded_spans() as spans:
        last = started(nursery, Relay("last", concurrency=4))
        first = started(nursery, Relay("first", next_ref=last))
        with tracing.server_span("request", {}) as request:
            assert await first.ask("relay", 5) == "echo"
            with pytest.raises(ActorCrashed):
                await first.ask("boom", 5)
        assert request is not None
        request_id = request.get_span_context().span_id
        finished = spans.get_finished_spans()
        firsts, lasts = of(finished, "first"), of(finished, "last")
        relayed, crashed = firsts["actor str"]
        assert [parent_of(s) for s in firsts["actor wait"]] == [request_id, request_id]
        assert parent_of(relayed) == parent_of(crashed) == request_id
        assert crashed.attributes and crashed.attributes["error.type"] == "ValueError"
        assert not crashed.status.is_ok
        # The concurrent actor handles in a task of its own: still under the asker's span.
        assert set(lasts) == {"actor wait", "actor str"}
        assert all(
            parent_of(s) == span_id(relayed) for s in lasts["actor wait"] + lasts["actor str"]
        )


async def test_an_unsampled_trace_makes_no_span_but_keeps_its_ids(nursery: trio.Nursery) -> None:
    with recorded_spans() as spans:
        actor = Relay("quiet")
        ref = started(nursery, actor)
        with tracing.server_span("request", {"traceparent": UNSAMPLED}):
            await ref.ask("echo", 5)
        assert spans.get_finished_spans() == ()
        [seen] = actor.trace_ids
        assert seen is not None and AGENT_TRACEPARENT[3:35] in seen  # the agent's trace id


async def test_a_message_outside_any_trace_opens_none(nursery: trio.Nursery) -> None:
    with recorded_spans() as spans:
        actor = Relay("background")
        ref = started(nursery, actor)
        ref.tell("tick")
        await eventually(lambda: actor.trace_ids)
        assert spans.get_finished_spans() == ()
        assert actor.trace_ids == [None]


async def test_wait_spans_start_when_the_message_was_posted(nursery: trio.Nursery) -> None:
    with recorded_spans() as spans:
        entered, gate = trio.Event(), trio.Event()

        class Slow(Relay):
            async def receive(self, message: Any) -> Any:
                if message == "hold":
                    entered.set()
                    await gate.wait()
                return message

        ref = started(nursery, Slow("slow"))
        with tracing.server_span("request", {}):
            async with trio.open_nursery() as asks:
                asks.start_soon(ref.ask, "hold", 5)
                await entered.wait()
                asks.start_soon(ref.ask, "queued", 5)
                await eventually(lambda: ref.mailbox.depth == 1)
                gate.set()
        finished = spans.get_finished_spans()
        held = next(s for s in finished if s.name == "actor str")  # "hold", handled first
        queued_wait = named(finished, "actor wait")[1]
        assert queued_wait.start_time is not None and held.end_time is not None
        assert queued_wait.start_time < held.end_time  # it waited behind "hold" ...
        assert queued_wait.end_time is not None and queued_wait.end_time >= held.end_time
        assert one(finished, "request")
