"""The embedded store: process memory, no configuration, not durable.

Every method runs without a checkpoint between its reads and writes, so under
trio each one is atomic, which is all the `Store` contract asks.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from agentic_commerce.domain.model import Order, Session, Status
from agentic_commerce.domain.rate_account import Batch
from agentic_commerce.domain.rate_limit import Decision, Limit, decide
from agentic_commerce.domain.state_machine import TERMINAL
from agentic_commerce.domain.vault import Refusal, TokenUse, VaultToken, refusal
from agentic_commerce.store.base import (
    Claim,
    Commit,
    IdempotencyRecord,
    OutboxEvent,
    StockLevel,
    Store,
    VersionConflict,
    partition_of,
)

PURGE_EVERY = 1024


class MemoryStore(Store):
    durable = False

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._orders: dict[str, Order] = {}
        self._idempotency: dict[str, IdempotencyRecord] = {}
        self._claims: dict[str, tuple[str, float]] = {}  # scope: (holder, lapses at)
        self._writes = 0
        self._vault: dict[str, VaultToken] = {}
        self._tats: dict[str, float] = {}
        self._busy: dict[str, float] = {}  # rate-limit keys others should know of, by TAT
        self._signatures: dict[str, float] = {}
        self._on_hand: dict[str, int] = {}
        self._holds: dict[str, dict[str, int]] = {}
        self._reserved: dict[str, int] = {}
        self._expiry: dict[str, datetime] = {}
        self._events: dict[str, OutboxEvent] = {}
        self._hold_times: dict[str, float] = {}

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

    async def load_idempotency(self, scope: str) -> IdempotencyRecord | None:
        record = self._idempotency.get(scope)
        if record is not None and record.expires_at <= time.time():
            del self._idempotency[scope]
            return None
        return record

    async def put_idempotency(self, record: IdempotencyRecord) -> None:
        self._remember(record)

    def _remember(self, record: IdempotencyRecord) -> None:
        """Keep a record (it ends the scope's claim); every so often drop expired ones
        so memory stays bounded."""
        self._idempotency[record.scope] = record
        self._claims.pop(record.scope, None)
        self._writes += 1
        if self._writes % PURGE_EVERY == 0:
            now = time.time()
            for scope in [s for s, r in self._idempotency.items() if r.expires_at <= now]:
                del self._idempotency[scope]

    async def begin_idempotency(
        self, scope: str, holder: str, ttl_seconds: float
    ) -> IdempotencyRecord | Claim:
        stored = await self.load_idempotency(scope)
        if stored is not None:
            return stored
        now = time.monotonic()
        held = self._claims.get(scope)
        if held is not None and held[1] > now:
            return Claim.BUSY
        self._claims[scope] = (holder, now + ttl_seconds)
        fresh = partition_of(scope) not in self._sessions
        return Claim.CLAIMED_FRESH if fresh else Claim.CLAIMED

    async def renew_idempotency(
        self, claims: Sequence[tuple[str, str]], ttl_seconds: float
    ) -> list[str]:
        now, lost = time.monotonic(), []
        for scope, holder in claims:
            held = self._claims.get(scope)
            if scope in self._idempotency:
                continue  # answered: the record ended the claim
            if held is None or held[0] != holder or held[1] <= now:
                lost.append(scope)
            else:
                self._claims[scope] = (holder, now + ttl_seconds)
        return lost

    async def release_idempotency(self, scope: str, holder: str) -> None:
        held = self._claims.get(scope)
        if held is not None and held[0] == holder:
            del self._claims[scope]

    async def put_vault_token(
        self, token: VaultToken, idempotency: IdempotencyRecord | None
    ) -> None:
        self._vault[token.id] = token
        if idempotency is not None:
            self._remember(idempotency)

    async def load_vault_token(self, token_id: str) -> VaultToken | None:
        return self._vault.get(token_id)

    async def consume_vault_token(self, token_id: str, use: TokenUse) -> Refusal | None:
        token = self._vault.get(token_id)
        reason = refusal(token, use)
        if reason is None and token is not None:
            self._vault[token_id] = replace(token, consumed_by=use.session_id)
        return reason

    async def rate_limit(self, key: str, limit: Limit, now: float) -> tuple[Decision, float]:
        decision, tat = decide(limit, self._tats.get(key), now)
        self._tats[key] = tat
        if not decide(limit, tat, now)[0].allowed:  # full: busy until it drains
            self._busy[key] = tat
        return decision, tat

    async def settle_rate_limits(
        self, batches: Mapping[str, Batch], now: float
    ) -> dict[str, float]:
        settled = {key: batch.applied_to(self._tats.get(key)) for key, batch in batches.items()}
        self._tats.update(settled)
        self._busy.update(settled)
        self._busy = {key: tat for key, tat in self._busy.items() if tat > now}
        return {**settled, **self._busy}

    async def remember_signature(self, signature: str, ttl_seconds: float) -> bool:
        now = time.monotonic()
        if self._signatures.get(signature, 0.0) > now:
            return False
        self._signatures[signature] = now + ttl_seconds
        if len(self._signatures) % PURGE_EVERY == 0:
            for old in [s for s, until in self._signatures.items() if until <= now]:
                del self._signatures[old]
        return True

    async def seed_stock(self, levels: Mapping[str, int]) -> None:
        for product_id, units in levels.items():
            self._on_hand.setdefault(product_id, units)

    async def hold(self, holder: str, wants: Mapping[str, int]) -> tuple[str, ...]:
        current = self._holds.get(holder, {})
        short: list[str] = []
        granted: dict[str, int] = {}
        for product_id in set(current) | set(wants):
            mine = current.get(product_id, 0)
            want = wants.get(product_id, 0)
            free = self._on_hand.get(product_id, 0) - self._reserved.get(product_id, 0) + mine
            if want > free:
                short.append(product_id)
                want = 0
            self._reserved[product_id] = self._reserved.get(product_id, 0) - mine + want
            if want:
                granted[product_id] = want
        if granted:
            self._holds[holder] = granted
            self._hold_times[holder] = time.time()
        else:
            self._holds.pop(holder, None)
            self._hold_times.pop(holder, None)
        return tuple(sorted(short))

    async def release(self, holder: str) -> None:
        self._hold_times.pop(holder, None)
        for product_id, units in self._holds.pop(holder, {}).items():
            self._reserved[product_id] -= units

    async def consume(self, holder: str) -> None:
        self._hold_times.pop(holder, None)
        for product_id, units in self._holds.pop(holder, {}).items():
            self._reserved[product_id] -= units
            self._on_hand[product_id] -= units

    async def stock(self, product_id: str) -> StockLevel:
        return StockLevel(
            product_id, self._on_hand.get(product_id, 0), self._reserved.get(product_id, 0)
        )

    async def due_sessions(self, now: datetime, limit: int = 100) -> list[str]:
        due = sorted((at, sid) for sid, at in self._expiry.items() if at <= now)
        return [sid for _, sid in due[:limit]]

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

    async def list_events(self, state: str | None, limit: int = 100) -> list[OutboxEvent]:
        matching = (e for e in self._events.values() if state is None or e.state == state)
        return list(itertools.islice(matching, limit))

    async def outbox_counts(self) -> dict[str, int]:
        return dict(Counter(e.state for e in self._events.values()))

    async def outbox_backlog(self) -> tuple[int, int]:
        counts = await self.outbox_counts()
        return counts.get("pending", 0) + counts.get("in_flight", 0), counts.get("dead", 0)

    async def release_orphan_holds(self, older_than: datetime) -> int:
        cutoff = older_than.timestamp()
        orphans = [
            holder
            for holder, taken in self._hold_times.items()
            if taken < cutoff and not self._open(holder)
        ]
        for holder in orphans:
            if self._completed(holder):
                await self.consume(holder)
            else:
                await self.release(holder)
        return len(orphans)

    def _completed(self, session_id: str) -> bool:
        session = self._sessions.get(session_id)
        return session is not None and session.status is Status.COMPLETED

    def _open(self, session_id: str) -> bool:
        session = self._sessions.get(session_id)
        return session is not None and session.status not in TERMINAL
