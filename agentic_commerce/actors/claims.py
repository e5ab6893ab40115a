"""The Idempotency-Key claims this process holds, renewed while their requests run.

A request that answers a key claims it in the store for one lease TTL, in the
name of a holder unique to this process and request. The keeper renews every
claim still running here, every third of a TTL, in one round trip. So a retry
waits (409 in flight) while the first request works, however long that takes,
and proceeds within about one TTL once the process that held the claim died or
the store lost its release: a dead owner costs no more than its session leases.
A claim only keeps retries apart; the session's versioned commit and the PSP's
idempotency key keep the outcome single even when one lapses early.
"""

from __future__ import annotations

import itertools
import secrets

import structlog
import trio

from agentic_commerce.store.base import Store, StoreError

log = structlog.get_logger("agentic_commerce.claims")


class Claims:
    def __init__(self, store: Store, ttl: float) -> None:
        self.store = store
        self.ttl = ttl
        self._prefix = secrets.token_hex(6)  # per process
        self._ids = itertools.count(1)
        self._held: dict[str, str] = {}  # scope: holder

    def new_holder(self) -> str:
        return f"{self._prefix}.{next(self._ids)}"

    def held(self, scope: str, holder: str) -> None:
        self._held[scope] = holder

    def done(self, scope: str) -> None:
        self._held.pop(scope, None)

    async def keep(self) -> None:
        """Renew the running claims every third of a TTL (a supervised child)."""
        while True:
            await trio.sleep(self.ttl / 3)
            running = dict(self._held)
            try:
                lost = await self.store.renew_idempotency(list(running.items()), self.ttl)
            except StoreError as exc:
                log.warning("claim_renewal_failed", error=type(exc).__name__)
                continue
            if any(self._held.get(scope) == running[scope] for scope in lost):
                log.warning("claim_lapsed", detail="a retry may have started meanwhile")
