"""Concurrent Redis calls share thread hops and round trips.

redis-py's client blocks, so every round trip runs in a worker thread, and under
load the hop (thread wake-up, GIL hand-offs, the wake-up of trio) costs more than
Redis does. So a store call is written as a *rounds job*: a generator that fills
a pipeline without sending it, yields it and gets its replies back, once per
round trip it needs. The batcher merges the pipelines yielded while earlier
ones are in flight into one, sent by one worker thread in one round trip: N
concurrent calls cost one hop and one round trip, not N. At most `hops` merged
pipelines are in flight (one is fastest on a loopback Redis: more threads only
contend for the GIL), and a caller waits for a hop only while that many are.

Merging extends one pipeline's `command_stack` with the others' (redis-py's own
list of queued commands, which `execute` sends). A merged pipeline keeps each
job's commands together and in its order, and one
Redis runs a pipeline in order, so a job's cross-slot intents still come before
the write they describe. Jobs of one batch do not see each other's replies, and
need not: each job's commands are atomic scripts or idempotent commands of its
own, as they were when each job sent its own pipeline.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Generator, Sequence
from functools import partial
from typing import Any, TypeVar

import outcome
import trio
from opentelemetry.trace import Span
from redis.client import Pipeline

from agentic_commerce import tracing

T = TypeVar("T")
# One round trip of a job: a pipeline, or stages that must land in this order (the
# cross-slot intents before what they index): one Redis runs a pipeline in order,
# a cluster does not (`client.ClusterRounds`).
Round = Pipeline | tuple[Pipeline, ...]
# A job's rounds: it yields a filled round, gets its replies, returns its result.
Rounds = Generator[Round, list[Any], T]


def stages_of(stages: Round) -> tuple[Pipeline, ...]:
    return stages if isinstance(stages, tuple) else (stages,)


def joined(stages: Sequence[Pipeline]) -> Pipeline:
    """One pipeline of every command of `stages`, in order (it is the first one)."""
    first, *rest = stages
    for stage in rest:
        first.command_stack.extend(stage.command_stack)
    return first


class _Round:
    """One job's pipeline waiting for its replies (and its span, when traced)."""

    __slots__ = ("abandoned", "done", "end", "replies", "span", "stages", "start")

    def __init__(self, stages: tuple[Pipeline, ...], span: Span | None) -> None:
        self.stages = stages
        self.start = self.end = 0
        self.replies: outcome.Outcome[list[Any]] | None = None
        self.done = trio.Event()
        self.abandoned = False
        self.span = span


class Batcher:
    """Sends the rounds of concurrent jobs, merged, at most `hops` pipelines at once."""

    def __init__(self, *, hops: int) -> None:
        self._hops = hops
        self._waiting: list[_Round] = []
        self._in_flight = 0

    async def round(self, stages: Round) -> list[Any]:
        """The replies to the round's commands, an error in place of a failed one's."""
        waiting = _Round(stages_of(stages), tracing.current_span())
        if not any(len(stage) for stage in waiting.stages):
            return []
        self._waiting.append(waiting)
        self._send()
        try:
            await waiting.done.wait()
        except BaseException:
            waiting.abandoned = True  # left before it was sent: never sent
            raise
        assert waiting.replies is not None
        return waiting.replies.unwrap()

    def _send(self) -> None:
        while self._waiting and self._in_flight < self._hops:
            batch = [w for w in self._waiting if not w.abandoned]
            self._waiting = []
            if batch:
                self._start(batch)

    def _start(self, batch: list[_Round]) -> None:
        at = 0
        for waiting in batch:  # before joining: it grows the first stage
            waiting.start = at
            at = waiting.end = at + sum(len(stage) for stage in waiting.stages)
        for waiting in batch:
            if waiting.span is not None:  # what it waited for, and what it shares the trip with
                shared = {"acs.redis.merged_jobs": len(batch), "acs.redis.merged_commands": at}
                waiting.span.add_event("sent", shared)
        merged = joined([stage for waiting in batch for stage in waiting.stages])
        self._in_flight += 1
        token = trio.lowlevel.current_trio_token()

        def deliver(result: outcome.Outcome[list[Any]]) -> None:
            """In the worker thread: hand the replies to trio (gone at shutdown)."""
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(self._done, batch, result)

        trio.lowlevel.start_thread_soon(partial(merged.execute, raise_on_error=False), deliver)

    def _done(self, batch: list[_Round], result: outcome.Outcome[list[Any]]) -> None:
        self._in_flight -= 1
        for waiting in batch:
            if isinstance(result, outcome.Value):
                waiting.replies = outcome.Value(result.value[waiting.start : waiting.end])
            elif isinstance(result, outcome.Error):  # unwrapped once each: one each
                waiting.replies = outcome.Error(result.error)
            waiting.done.set()
        self._send()


async def drive(job: Rounds[T], send: Callable[[Round], Awaitable[list[Any]]]) -> T:
    """Run a job's rounds through `send`; a reply that is an error is raised into the
    caller, as `Pipeline.execute` raises the first one."""
    replies: list[Any] | None = None
    while True:
        try:
            stages = next(job) if replies is None else job.send(replies)
        except StopIteration as stop:
            result: T = stop.value
            return result
        replies = await send(stages)
        if error := next((r for r in replies if isinstance(r, Exception)), None):
            job.close()
            raise error
