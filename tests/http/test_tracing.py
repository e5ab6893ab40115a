"""Traces of real requests: what hypercorn serves (`with_mcp`), on loopback, on a real
actor system, with spans recorded in process (tests/traces.py). The agent's
`traceparent` is continued by the server span, the actors' spans are its children
across their tasks, the PSP call is a span, each webhook delivery a trace of its
own linked to the order's, and no span says a key, token or card number."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import trio
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from agentic_commerce import tracing
from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.config.settings import Settings
from agentic_commerce.http.app import create_app, with_mcp
from agentic_commerce.http.mcp.endpoint import Mounted
from agentic_commerce.store.memory import MemoryStore
from agentic_commerce.supervisor import load_catalog
from tests.e2e.mcp_agent import connected
from tests.fakes.asgi import serving
from tests.fakes.webhook_receiver import FakeReceiver, running_receiver
from tests.http.conftest import ADDRESS, DEMO_KEY, NEWEST
from tests.http.test_delegate_payment import CARD, CVC, delegate_body, pay_with
from tests.traces import (
    AGENT_SPAN_ID,
    AGENT_TRACE_ID,
    AGENT_TRACEPARENT,
    everything_said,
    named,
    one,
    parent_of,
    recorded_spans,
    span_id,
    trace_id,
)
from tests.waiting import eventually

SECRET = "whsec_tracing_test_secret"
TOKEN = "tok_test_tracing_9d1f0c2e"  # charged by the simulated processor
HEADERS = {"Authorization": f"Bearer {DEMO_KEY}", "API-Version": NEWEST}
CREATE = {
    "currency": "usd",
    "line_items": [{"id": "item_123"}],
    "capabilities": {},
    "fulfillment_details": {"name": "Jane Doe", "address": ADDRESS},
}
PAYMENT = {
    "payment_data": {
        "handler_id": "card_tokenized",
        "instrument": {"type": "card", "credential": {"type": "spt", "token": TOKEN}},
    }
}


@dataclass
class Served:
    http: httpx.AsyncClient
    spans: InMemorySpanExporter
    receiver: FakeReceiver

    async def finished(self, *names: str) -> tuple[ReadableSpan, ...]:
        """The spans ended so far, once those named have (a server span ends just
        after its answer is sent)."""

        def ended() -> bool:
            done = {span.name for span in self.spans.get_finished_spans()}
            return done.issuperset(names)

        await eventually(ended)
        return self.spans.get_finished_spans()

    async def post(self, path: str, body: Any, **headers: str) -> httpx.Response:
        sent = {**HEADERS, "Idempotency-Key": f"idem_{trio.current_time()}", **headers}
        return await self.http.post(path, json=body, headers=sent)


@asynccontextmanager
async def served() -> AsyncIterator[Served]:
    """The server as hypercorn runs it, tracing on, with a webhook receiver."""
    with recorded_spans() as spans:
        async with running_receiver(SECRET) as receiver:
            settings = Settings(
                webhook_url=receiver.url,
                webhook_secret=SECRET,
                webhook_poll_seconds=0.05,
            )
            system = ActorSystem(settings, MemoryStore(), load_catalog(settings))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(system.run)
                await system.sessions.wait_ready()
                async with (
                    serving(with_mcp(create_app(system))) as url,
                    httpx.AsyncClient(base_url=url, timeout=10) as http,
                ):
                    yield Served(http, spans, receiver)
                nursery.cancel_scope.cancel()


async def test_the_server_span_continues_the_agents_trace() -> None:
    async with served() as s:
        state = "vendor=opaque-value"
        created = await s.post(
            "/checkout_sessions",
            CREATE,
            traceparent=AGENT_TRACEPARENT,
            tracestate=state,
            **{"Request-Id": "req_agent_0001"},
        )
        assert created.status_code == 201
        spans = await s.finished("POST /checkout_sessions")
        server = one(spans, "POST /checkout_sessions")
        assert server.kind is SpanKind.SERVER
        assert trace_id(server) == AGENT_TRACE_ID
        assert parent_of(server) == AGENT_SPAN_ID and server.parent and server.parent.is_remote
        assert (
            server.context is not None
            and server.context.trace_state.get("vendor") == "opaque-value"
        )
        attributes = dict(server.attributes or {})
        assert attributes["http.request.method"] == "POST"
        assert attributes["http.route"] == "/checkout_sessions"
        assert attributes["url.path"] == "/checkout_sessions"
        assert attributes["http.response.status_code"] == 201
        assert attributes["acp.request_id"] == "req_agent_0001"
        assert attributes["server.address"] == "127.0.0.1"
        # The actor's task: its start (the activation), the wait in its mailbox and the
        # handling, each a child of the request's span although another task ran them.
        for name in ("session activate", "session wait", "session Create"):
            span = one(spans, name)
            assert trace_id(span) == AGENT_TRACE_ID
            assert parent_of(span) == span_id(server), name
        wait, handling = one(spans, "session wait"), one(spans, "session Create")
        assert wait.end_time is not None and handling.start_time is not None
        assert wait.end_time <= handling.start_time
        inventory = one(spans, "inventory Hold")
        assert parent_of(inventory) == span_id(handling)  # an actor asking an actor


async def test_a_request_without_traceparent_starts_a_trace_and_404s_name_no_route() -> None:
    async with served() as s:
        response = await s.http.get("/nowhere", headers=HEADERS)
        assert response.status_code == 404
        [server] = named(await s.finished("GET"), "GET")
        assert server.parent is None
        assert "http.route" not in (server.attributes or {})
        assert server.attributes and server.attributes["http.response.status_code"] == 404
        assert server.status.is_ok  # a client's mistake is no server error


async def test_the_psp_call_is_in_the_trace_and_each_delivery_links_to_it() -> None:
    async with served() as s:
        created = await s.post("/checkout_sessions", CREATE)
        session_id = created.json()["id"]
        s.spans.clear()
        done = await s.post(
            f"/checkout_sessions/{session_id}/complete", PAYMENT, traceparent=AGENT_TRACEPARENT
        )
        assert done.json()["status"] == "completed"
        [delivery] = await s.receiver.wait_for(1)
        spans = await s.finished("webhook order_create")
        complete = one(spans, "session Complete")
        asked = one(spans, "payment Charge")
        charge = one(spans, "charge simulated")
        assert parent_of(asked) == span_id(complete)
        assert parent_of(charge) == span_id(asked)
        assert trace_id(charge) == AGENT_TRACE_ID and charge.kind is SpanKind.CLIENT
        assert charge.attributes == {
            "acs.payment.processor": "simulated",
            "acs.payment.outcome": "charged",
        }
        webhook = one(spans, "webhook order_create")
        assert webhook.parent is None and trace_id(webhook) != AGENT_TRACE_ID
        [link] = webhook.links
        assert link.context.trace_id == AGENT_TRACE_ID
        assert link.context.span_id == span_id(complete)  # where the order was placed
        assert webhook.attributes and webhook.attributes["acs.webhook.outcome"] == "delivered"
        post = one(spans, "POST")
        assert parent_of(post) == span_id(webhook)
        assert post.attributes and post.attributes["http.response.status_code"] == 200
        # The receiver can join the delivery's trace.
        assert f"{trace_id(webhook):032x}" in delivery.headers["traceparent"]


async def test_no_span_says_a_key_token_or_card_number() -> None:
    async with served() as s:
        created = await s.post("/checkout_sessions", CREATE)
        session = created.json()
        total = next(t["amount"] for t in session["totals"] if t["type"] == "total")
        vault = await s.post(
            "/agentic_commerce/delegate_payment", delegate_body(session["id"], total)
        )
        assert vault.status_code == 201, vault.text
        vault_token = vault.json()["id"]
        paid = await s.post(f"/checkout_sessions/{session['id']}/complete", pay_with(vault_token))
        assert paid.json()["status"] == "completed"
        other = await s.post("/checkout_sessions", CREATE)
        done = await s.post(f"/checkout_sessions/{other.json()['id']}/complete", PAYMENT)
        assert done.json()["status"] == "completed"
        await s.receiver.wait_for(2)
        spans = await s.finished("webhook order_create")
        assert named(spans, "charge vault") and named(spans, "charge simulated")
        said = everything_said(spans)
        for secret in (DEMO_KEY, TOKEN, vault_token, CARD, CVC, SECRET):
            assert not re.search(rf"\b{secret}\b", said), secret


async def test_tracing_off_wraps_nothing_and_carries_nothing() -> None:
    assert not tracing.enabled()
    settings = Settings()
    system = ActorSystem(settings, MemoryStore(), load_catalog(settings))
    assert isinstance(with_mcp(create_app(system)), Mounted)  # the app as it was
    assert tracing.sent() is None and tracing.traceparent() is None
    assert tracing.child_span("anything") is tracing.NOTHING


async def test_an_mcp_tool_call_is_traced_like_rest() -> None:
    async with served() as s, connected(str(s.http.base_url).rstrip("/")) as agent:
        await agent.create(CREATE)
        spans = await s.finished("POST /mcp", "session Create")
        posts = named(spans, "POST /mcp")  # the SDK's handshake, then the tool call
        assert all(span.attributes and span.attributes["http.route"] == "/mcp" for span in posts)
        assert parent_of(one(spans, "session Create")) in {span_id(span) for span in posts}
