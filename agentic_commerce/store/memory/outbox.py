"""The outbox in memory: events in creation order (a dict keeps insertion order)."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

from agentic_commerce.store.base import OutboxEvent
from agentic_commerce.store.memory.state import MemoryState


class MemoryOutbox(MemoryState):
    async def claim_due_events(
        self, now: datetime, limit: int, lease_seconds: float
    ) -> list[OutboxEvent]:
        heads: dict[str, OutboxEvent] = {}
        for event in self._events.values():  # insertion order is creation order
            if event.state in ("delivered", "dead") or event.session_id in heads:
                continue
            heads[event.session_id] = event
        claimed: list[OutboxEvent] = []
        lease = now + timedelta(seconds=lease_seconds)
        for event in heads.values():
            lease_until = event.lease_until if event.state == "in_flight" else None
            if lease_until is not None and lease_until > now:
                continue
            if event.next_attempt_at is not None and event.next_attempt_at > now:
                continue
            claimed.append(replace(event, state="in_flight", lease_until=lease))
            self._events[event.id] = claimed[-1]
            if len(claimed) == limit:
                break
        return claimed

    async def save_event(self, event: OutboxEvent) -> None:
        self._events[event.id] = event

    async def load_event(self, event_id: str) -> OutboxEvent | None:
        return self._events.get(event_id)

    async def list_events(
        self, state: str | None, limit: int = 100, newest_first: bool = False
    ) -> list[OutboxEvent]:
        events = reversed(self._events.values()) if newest_first else self._events.values()
        matching = (e for e in events if state is None or e.state == state)
        return list(itertools.islice(matching, limit))

    async def outbox_counts(self) -> dict[str, int]:
        return dict(Counter(e.state for e in self._events.values()))

    async def outbox_backlog(self) -> tuple[int, int]:
        counts = await self.outbox_counts()
        return counts.get("pending", 0) + counts.get("in_flight", 0), counts.get("dead", 0)
