"""Which instance runs a session's actor: one live actor per session, cluster-wide.

An instance runs a session's actor only while it holds the session's lease in
the store (`LEASE_TTL_SECONDS`). The keeper renews the leases of the sessions
that live here, releases those that passivated, re-announces this instance
(its id is fresh at every start, with its internal URL) and stops any actor
whose lease was lost. Leases only route requests; correctness rests on the
commit's version check, so a stale owner can never overwrite a newer state.

With no instance URL (one process, or the memory store) every session is local.
"""

from __future__ import annotations

import enum
import os
import secrets
import socket

import structlog
import trio

from agentic_commerce.actors.registry import ActorRegistry
from agentic_commerce.store.base import Store, StoreError

log = structlog.get_logger("agentic_commerce.ownership")
TAKEOVER_POLL_FRACTION = 10  # poll a lapsing lease this many times per TTL


class TakeOver(enum.Enum):
    TAKEN = "taken"  # this instance holds the lease now
    MOVED = "moved"  # another live instance took the session over
    TIMED_OUT = "timed_out"


def new_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


class Ownership:
    def __init__(
        self,
        store: Store,
        sessions: ActorRegistry,
        url: str | None,
        ttl: float,
        instance_id: str | None = None,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.url = url
        self.ttl = ttl
        self.instance_id = instance_id or new_instance_id()
        self._held: set[str] = set()

    @property
    def clustered(self) -> bool:
        return self.url is not None

    async def locate(self, session_id: str) -> str | None:
        """None when the session's actor runs (or may start) here; else the URL of
        the instance that runs it. A lease held by an unregistered (dead)
        instance, or by an earlier process at this instance's own URL (it died:
        this one has its port), is taken over at once."""
        if not self.clustered or session_id in self._held:
            return None
        for _ in range(2):  # a lost take-over race means someone else now holds it
            owner = await self.store.acquire_lease(session_id, self.instance_id, self.ttl)
            if owner is None:
                self._held.add(session_id)
                return None
            url = await self.store.instance_url(owner)
            if url is not None and url != self.url:
                return url
            if await self.store.take_over_lease(session_id, self.instance_id, owner, self.ttl):
                log.info("lease_taken_over", session_id=session_id, previous=owner)
                self._held.add(session_id)
                return None
        return await self.store.instance_url(owner) if owner else None

    async def may_sweep(self, ttl: float) -> bool:
        """One instance at a time sweeps the expiry index (a lock in the store)."""
        if not self.clustered:
            return True
        return await self.store.acquire_lock("expiry-sweep", self.instance_id, ttl)

    async def take_over(self, session_id: str, silent_url: str) -> TakeOver:
        """The owner at `silent_url` did not answer: wait (at most two TTLs) for its
        lease to lapse and take it. TAKEN when this instance now holds the lease;
        MOVED when another instance took it first (ask that one: its lease is
        renewed, so waiting here would only time out); TIMED_OUT otherwise."""
        silent: str | None = None
        with trio.move_on_after(2 * self.ttl):
            while True:
                owner = await self.store.acquire_lease(session_id, self.instance_id, self.ttl)
                if owner is None:
                    self._held.add(session_id)
                    log.info("lease_taken_over", session_id=session_id, reason="owner_silent")
                    return TakeOver.TAKEN
                silent = silent or owner
                url = await self.store.instance_url(owner)
                if owner != silent or (url is not None and url != silent_url):
                    return TakeOver.MOVED
                await trio.sleep(self.ttl / TAKEOVER_POLL_FRACTION)
        return TakeOver.TIMED_OUT

    async def keep(self) -> None:
        """Renew, release and announce, every third of a TTL (a supervised child)."""
        if self.url is None:
            await trio.sleep_forever()  # one instance: nothing to keep (and never "stops")
        url = self.url
        while True:
            try:
                await self._round(url)
            except StoreError as exc:
                log.warning("lease_keeper_store_error", error=type(exc).__name__)
            await trio.sleep(self.ttl / 3)

    async def _round(self, url: str) -> None:
        await self.store.register_instance(self.instance_id, url, 3 * self.ttl)
        live = set(self.sessions.live())
        for session_id in self._held - live:  # passivated or stopped: let others have it
            self._held.discard(session_id)
            await self.store.release_lease(session_id, self.instance_id)
        for session_id in await self.store.renew_leases(
            self.instance_id, sorted(self._held), self.ttl
        ):
            self._held.discard(session_id)
            self.sessions.stop(session_id)
            log.warning("lease_lost", session_id=session_id)
