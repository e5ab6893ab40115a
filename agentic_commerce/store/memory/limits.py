"""Rate-limit buckets and the signature replay cache in memory."""

from __future__ import annotations

import time
from collections.abc import Mapping

from agentic_commerce.domain.rate_account import Batch
from agentic_commerce.domain.rate_limit import Decision, Limit, decide
from agentic_commerce.store.memory.state import PURGE_EVERY, MemoryState


class MemoryRateLimits(MemoryState):
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
