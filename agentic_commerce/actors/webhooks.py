"""The webhook dispatcher: delivers order events from the durable outbox.

Events enter the outbox in the same commit as the order change that caused them
(see the session actor), so delivery only has to be at least once. Each cycle
claims the due events (the store hands out only the oldest undelivered event
of each session, so a session's events arrive in order), posts them
concurrently with a per-attempt timeout, and writes back each outcome: delivered,
retry later (schedule with jitter, `Retry-After` honoured) or dead. A cycle runs
every `poll_seconds` and whenever a session actor nudges it after a commit.
Checkout never waits for it: nudges are fire-and-forget.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import httpx
import orjson
import structlog
import trio

from agentic_commerce import metrics, tracing
from agentic_commerce.actors.clock import SystemClock
from agentic_commerce.actors.runtime import Actor
from agentic_commerce.protocol.base import timestamp
from agentic_commerce.store.base import OutboxEvent, Store, StoreUnavailable
from agentic_commerce.webhooks import policy, signing
from agentic_commerce.webhooks.payloads import event_body

log = structlog.get_logger("agentic_commerce.webhooks")
MAX_CYCLES_PER_WAKE = 50  # drain a backlog, but let the mailbox breathe


@dataclass(frozen=True, slots=True)
class Nudge:
    """New events were committed: deliver now rather than at the next poll."""


@dataclass(frozen=True, slots=True)
class Receiver:
    url: str
    secret: str
    version: str | None  # None: each event in its session's version
    legacy_names: bool
    schedule: tuple[float, ...]
    timeout: float
    concurrency: int
    poll_seconds: float


class WebhookDispatcher(Actor):
    kind = "webhooks"

    def __init__(self, store: Store, receiver: Receiver, clock: SystemClock) -> None:
        super().__init__("webhooks")
        self.store = store
        self.receiver = receiver
        self.clock = clock
        self._next_poll = 0.0
        self._client: httpx.AsyncClient | None = None
        self.delivered = 0

    async def started(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.receiver.timeout)

    async def stopped(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def deadline(self) -> float:
        return self._next_poll

    async def on_deadline(self) -> bool:
        await self._drain()
        return False

    async def receive(self, message: Nudge) -> None:
        await self._drain()

    async def _drain(self) -> None:
        try:
            for _ in range(MAX_CYCLES_PER_WAKE):
                if not await self._cycle():
                    break
        except* StoreUnavailable:
            # Next poll instead of a crash (an outage would spend the supervisor's
            # restart intensity); events claimed meanwhile go out again after their lease.
            log.warning("webhooks_deferred", reason="store unavailable")
        self._next_poll = trio.current_time() + self.receiver.poll_seconds

    async def _cycle(self) -> int:
        """Deliver what is due now; returns how many events were attempted."""
        lease = 2 * self.receiver.timeout + 5
        events = await self.store.claim_due_events(
            self.clock.now(), self.receiver.concurrency, lease
        )
        async with trio.open_nursery() as nursery:
            for event in events:
                nursery.start_soon(self._deliver, event)
        return len(events)

    async def _deliver(self, event: OutboxEvent) -> None:
        """One attempt, in a trace of its own linked to the request that placed the order."""
        attempt = event.attempts + 1
        attributes: tracing.Attributes = {
            "acs.webhook.event_id": event.id,
            "acs.webhook.event_type": event.type,
            "acs.webhook.attempt": attempt,
            "acs.session.id": event.session_id,
        }
        with tracing.linked_root(f"webhook {event.type}", event.trace, attributes) as span:
            state = await self._attempt(event, attempt)
            if span is not None:
                span.set_attribute("acs.webhook.outcome", state)

    async def _attempt(self, event: OutboxEvent, attempt: int) -> str:
        """Post the event, record the verdict; returns the event's new state."""
        assert self._client is not None and event.order is not None
        receiver = self.receiver
        version = receiver.version or event.api_version
        body = orjson.dumps(event_body(event.type, event.order, version, receiver.legacy_names))
        headers = {
            "Content-Type": "application/json",
            signing.HEADER: signing.sign(receiver.secret, body),
            "Request-Id": f"req_{secrets.token_hex(8)}",
            "Timestamp": timestamp(self.clock.now()),
            "Webhook-Event-Id": event.id,
            "Webhook-Attempt": str(attempt),
        }
        status: int | None = None
        retry_after = None
        error = None
        with tracing.http_client("POST", receiver.url) as post:
            tracing.inject(headers)  # the receiver may join the delivery's trace
            try:
                with trio.fail_after(receiver.timeout):
                    response = await self._client.post(receiver.url, content=body, headers=headers)
                status = response.status_code
                retry_after = policy.parse_retry_after(response.headers.get("Retry-After"))
                if status >= 300:
                    error = f"HTTP {status}"
            except (httpx.HTTPError, trio.TooSlowError) as exc:
                error = type(exc).__name__
                if post is not None:
                    tracing.fail(post, error)
            if status is not None:
                tracing.http_status(post, status)
        verdict = policy.judge(status, attempt, receiver.schedule, retry_after)
        await self.store.save_event(self._after(event, attempt, verdict, error))
        log.info(
            "webhook_delivery",
            event_id=event.id,
            event_type=event.type,
            session_id=event.session_id,
            attempt=attempt,
            status=status,
            outcome=verdict.state,
        )
        metrics.WEBHOOK_DELIVERIES.labels(event.type, verdict.state).inc()
        if verdict.state == "delivered":
            self.delivered += 1
        return verdict.state

    def _after(
        self, event: OutboxEvent, attempt: int, verdict: policy.Verdict, error: str | None
    ) -> OutboxEvent:
        now: datetime = self.clock.now()
        return replace(
            event,
            state=verdict.state,
            attempts=attempt,
            lease_until=None,
            next_attempt_at=now + timedelta(seconds=verdict.delay),
            last_error=error,
        )
