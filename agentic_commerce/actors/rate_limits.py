"""Rate limits without a store round trip per request: this process's own account
(`domain/rate_account.py`), settled with the store every `RATE_LIMIT_SETTLE_SECONDS`.

Requests are judged on the account alone. The settler (a supervised child) sends what
was admitted since its last round, only keys with activity, in one store call; the
store answers with the shared TAT of those keys and of every other busy one (what
other instances admitted, addresses whose failed credentials filled their bucket),
which the account merges. A failed settlement keeps its counts for the next round and
is logged. Failed credentials are rare: each is counted in the store at once, so the
count is exact across instances and this instance learns the shared TAT from it.
"""

from __future__ import annotations

import structlog
import trio

from agentic_commerce.actors.clock import SystemClock
from agentic_commerce.domain.rate_account import RateAccount
from agentic_commerce.domain.rate_limit import Decision, Limit
from agentic_commerce.store.base import Store, StoreError

log = structlog.get_logger("agentic_commerce.rate_limits")


class RateLimits:
    def __init__(self, store: Store, clock: SystemClock, settle_seconds: float) -> None:
        self.store = store
        self.clock = clock
        self.settle_seconds = settle_seconds
        self.account = RateAccount()

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def admit(self, key: str, limit: Limit) -> Decision:
        """Judge and count one request against `key` here (no store call)."""
        return self.account.admit(key, limit, self._now())

    def peek(self, key: str, limit: Limit) -> Decision:
        """The decision `admit` would make now, counting nothing (no store call)."""
        return self.account.peek(key, limit, self._now())

    async def count_in_store(self, key: str, limit: Limit) -> Decision:
        """Count one request in the shared bucket now (exact across instances) and
        learn the TAT it leaves."""
        decision, tat = await self.store.rate_limit(key, limit, self._now())
        self.account.merge({key: tat})
        return decision

    async def settle(self) -> None:
        """One round: the batches to the store, the shared TATs back into the account."""
        batches = self.account.drain()
        try:
            shared = await self.store.settle_rate_limits(batches, self._now())
        except BaseException as exc:
            # Counted again next round (also after a timeout that may have applied
            # them: counting twice only errs on the strict side).
            self.account.restore(batches)
            if not isinstance(exc, StoreError):
                raise
            log.warning("rate_limit_settlement_failed", error=type(exc).__name__)
            return
        self.account.merge(shared)
        self.account.prune(self._now())

    async def keep(self) -> None:
        """Settle every `settle_seconds` (a supervised child); never stops on a store error."""
        while True:
            await trio.sleep(self.settle_seconds)
            await self.settle()
