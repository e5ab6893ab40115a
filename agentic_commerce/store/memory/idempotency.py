"""Idempotency keys in memory: claims lapse on the monotonic clock, answers on
the wall clock (their expiry is a timestamp)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from agentic_commerce.store.base import Claim, IdempotencyRecord, partition_of
from agentic_commerce.store.memory.state import MemoryState


class MemoryIdempotency(MemoryState):
    async def load_idempotency(self, scope: str) -> IdempotencyRecord | None:
        record = self._idempotency.get(scope)
        if record is not None and record.expires_at <= time.time():
            del self._idempotency[scope]
            return None
        return record

    async def put_idempotency(self, record: IdempotencyRecord) -> None:
        self._remember(record)

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
