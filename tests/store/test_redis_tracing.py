"""Each Redis round trip of a traced call is a span of its caller's trace, on a real
Redis with real worker threads: named by what it runs (scripts by name), never
by its keys or arguments; merged round trips say what they were shared with;
calls no request made (background work) open no trace."""

from __future__ import annotations

import trio
from opentelemetry.trace import SpanKind

from agentic_commerce import tracing
from agentic_commerce.store.base import Commit
from tests.redis_server import RedisServer
from tests.store.test_redis_store import opened, session
from tests.traces import named, parent_of, recorded_spans, span_id

N = 10


async def test_a_call_is_a_span_of_its_callers_trace(own_redis: RedisServer) -> None:
    with recorded_spans() as spans:
        async with opened(own_redis) as store:
            await store.commit(Commit(session("cs_warm"), None, None))  # scripts loaded
            with tracing.server_span("request", {}) as request:
                await store.commit(Commit(session("cs_traced"), None, None))
            assert request is not None
            finished = spans.get_finished_spans()
            [commit] = [s for s in finished if "EVALSHA commit" in s.name]
            assert commit.kind is SpanKind.CLIENT
            assert parent_of(commit) == request.get_span_context().span_id
            attributes = dict(commit.attributes or {})
            assert attributes["db.system.name"] == "redis"
            assert attributes["server.address"] == "127.0.0.1"
            assert attributes["server.port"] == own_redis.port
            assert attributes["db.namespace"] == "0"
            assert attributes["db.query.summary"] == commit.name
            assert attributes["db.operation.name"].startswith("BATCH")
            assert attributes["db.operation.batch.size"] >= 2
            assert "cs_traced" not in repr(attributes)  # keys and arguments are not said
            [sent] = commit.events
            assert sent.name == "sent" and sent.attributes
            assert sent.attributes["acs.redis.merged_jobs"] == 1


async def test_concurrent_calls_keep_their_own_spans_and_say_what_they_shared(
    own_redis: RedisServer,
) -> None:
    with recorded_spans() as spans:
        async with opened(own_redis) as store:
            for i in range(N):
                await store.commit(Commit(session(f"cs_{i}"), None, None))
            assert spans.get_finished_spans() == ()  # no request's: no trace
            callers: dict[int, int] = {}

            async def load(i: int) -> None:
                with tracing.server_span(f"request {i}", {}) as request:
                    assert request is not None
                    callers[i] = request.get_span_context().span_id
                    await store.load_session(f"cs_{i}")

            async with trio.open_nursery() as nursery:
                for i in range(N):
                    nursery.start_soon(load, i)
            finished = spans.get_finished_spans()
            loads = [s for s in finished if s.kind is SpanKind.CLIENT]
            assert len(loads) == N
            assert {parent_of(s) for s in loads} == set(callers.values())  # one per caller
            shared = [s.events[0].attributes or {} for s in loads]
            assert max(int(e["acs.redis.merged_jobs"]) for e in shared) > 1  # merged trips
            for i in range(N):
                [request] = named(finished, f"request {i}")
                assert span_id(request) == callers[i]
