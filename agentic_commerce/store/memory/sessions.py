"""Sessions and orders in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from agentic_commerce.domain.model import Order, Session
from agentic_commerce.domain.state_machine import TERMINAL
from agentic_commerce.store.base import Commit, VersionConflict
from agentic_commerce.store.memory.state import MemoryState


class MemorySessions(MemoryState):
    async def load_session(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    async def commit(self, commit: Commit) -> Session:
        current = self._sessions.get(commit.session.id)
        current_version = None if current is None else current.version
        if current_version != commit.expected_version:
            raise VersionConflict(commit.session.id)
        stored = replace(commit.session, version=(current_version or 0) + 1)
        self._sessions[stored.id] = stored
        if stored.order is not None:
            self._orders[stored.order.id] = stored.order
        if stored.status in TERMINAL:
            self._expiry.pop(stored.id, None)
        else:
            self._expiry[stored.id] = stored.expires_at
        if commit.idempotency is not None:
            self._remember(commit.idempotency)
        for event in commit.events:
            self._events[event.id] = event
        return stored

    async def load_order(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)

    async def due_sessions(self, now: datetime, limit: int = 100) -> list[str]:
        due = sorted((at, sid) for sid, at in self._expiry.items() if at <= now)
        return [sid for _, sid in due[:limit]]

    async def latest_open_sessions(self, limit: int) -> list[tuple[str, datetime]]:
        latest = sorted(((at, sid) for sid, at in self._expiry.items()), reverse=True)
        return [(sid, at) for at, sid in latest[:limit]]
