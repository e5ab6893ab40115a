"""Which instance runs a session's actor: one live actor per session, cluster-wide.

An instance runs a session's actor only while it holds the session's lease in
the store. A lease names its instance and is only as good as that instance's
registration, which the keeper renews every third of `LEASE_TTL_SECONDS` (its
id is fresh at every start, with its internal URL): an instance that stops
renewing is gone for everyone one TTL later, and its leases are taken over at
once. So leases themselves are held long (`LEASE_HOLD_TTLS` TTLs) and renewed
only every half of that: the keeper's work does not grow with the number of
live sessions. It also releases the leases of sessions that passivated, and
stops any actor whose lease was lost. An instance whose registration lapsed
(it was cut off from the store for a TTL) may have lost any of its leases: it
stops all its session actors, which come back on demand. Leases only route
requests; correctness rests on the commit's version check, so a stale owner can
never overwrite a newer state.

With no instance URL (one process, or the memory store) every session is local.
Such a lone instance on Redis keeps its actors' state cached, and nobody can
forward to it, so it must be the store's only user: every instance on a shared
store registers (`Store.join`) before it serves and while it runs; a lone one
refuses to start beside others, others refuse to start beside a lone one. A
registration left by a crashed process lapses within one TTL, so a restart
waits for that instead of refusing. An instance that finds its registration
taken over while it runs (it was cut off from the store for a TTL) is fenced:
it stops its session actors and answers 503 until it may register again.
"""

from __future__ import annotations

import enum
import math
import os
import secrets
import socket

import structlog
import trio

from agentic_commerce.actors.registry import ActorRegistry
from agentic_commerce.domain.errors import RequestRejected, unavailable
from agentic_commerce.domain.model import Session
from agentic_commerce.store.base import Joined, Member, Store, StoreError, StoreUnavailable

log = structlog.get_logger("agentic_commerce.ownership")
TAKEOVER_POLL_FRACTION = 10  # poll a lapsing lease this many times per TTL
TAKEOVER_WAIT_TTLS = 1.2  # a silent owner's lease lapses within one TTL of its last renewal
JOIN_WAIT_TTLS = 1.5  # a crashed predecessor's registration lapses within one TTL
LEASE_HOLD_TTLS = 60  # a lease lasts this many TTLs, renewed after half of it
STORE_RETRY_SECONDS = 0.5


class JoinRefused(Exception):
    """Another live instance forbids this one to share the store (says which, and why)."""


def refusal(me: Member, other: str) -> str:
    if me.lone:
        return (
            f"another instance ({other}) is registered on this Redis, and an instance "
            "without INSTANCE_URL must run alone (nobody can forward requests to it): "
            "set INSTANCE_URL and INTERNAL_SECRET on every instance to run several"
        )
    return (
        f"a lone instance ({other}) runs on this Redis without INSTANCE_URL, so it "
        "cannot share the store: stop it, or restart it with INSTANCE_URL and INTERNAL_SECRET"
    )


def fenced() -> RequestRejected:
    return unavailable(
        "instance_fenced", "This instance lost its registration on the store; retry shortly."
    )


class Owned(enum.Enum):
    OWNED = "owned"


OWNED = Owned.OWNED


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
        self.member = Member(self.instance_id, url)
        self.fenced = False
        self._held: dict[str, float] = {}  # session id: when its lease was last written
        self._joined = False
        self._joined_at = -math.inf  # trio time of the last registration that held
        self._rounds = trio.Lock()  # one keeper round at a time (the keeper, a request)

    @property
    def hold(self) -> float:
        """How long a lease lasts in the store."""
        return LEASE_HOLD_TTLS * self.ttl

    @property
    def clustered(self) -> bool:
        return self.url is not None

    async def locate(self, session_id: str) -> str | None:
        """None when the session's actor runs (or may start) here; else the URL of
        the instance that runs it. A lease held by an unregistered (dead)
        instance, or by an earlier process at this instance's own URL (it died:
        this one has its port), is taken over at once."""
        if self.fenced:
            raise fenced()
        if not self.clustered:
            return None
        await self._registered()
        if session_id in self._held:
            return None
        for _ in range(2):  # a lost take-over race means someone else now holds it
            owner = await self.store.acquire_lease(session_id, self.instance_id, self.hold)
            if owner is None:
                self._hold(session_id)
                return None
            url = await self.store.instance_url(owner)
            if url is not None and url != self.url:
                return url
            if await self.store.take_over_lease(session_id, self.instance_id, owner, self.hold):
                log.info("lease_taken_over", session_id=session_id, previous=owner)
                self._hold(session_id)
                return None
        return await self.store.instance_url(owner) if owner else None

    async def read_or_own(self, session_id: str) -> Session | Owned | None:
        """For a GET of a session not live here, in one store round trip: OWNED when
        this instance may run its actor (nobody else does: it now holds the lease),
        else the committed session (None: there is none) to show as it is."""
        if self.fenced:
            raise fenced()
        await self._registered()
        if session_id in self._held:
            return OWNED
        owned, session = await self.store.lease_or_load(session_id, self.instance_id, self.hold)
        if owned:
            self._hold(session_id)
            return OWNED
        return session

    async def _registered(self) -> None:
        """Before trusting or taking a lease: this instance's registration must still
        hold. A keeper that could not renew it (the store was away) may have let it
        lapse, and then others may have taken its leases: renew it now (a lapsed one
        drops every session here) rather than serve a session another instance runs."""
        if self._late():  # the usual case costs a clock read, not a lock
            async with self._rounds:  # one renewal for all the requests that wait
                if self._late():
                    await self._round()
        if self.fenced:
            raise fenced()

    def _late(self) -> bool:
        return trio.current_time() - self._joined_at > 2 * self.ttl / 3

    def _hold(self, session_id: str) -> None:
        self._held[session_id] = trio.current_time()

    async def may_run(self, task: str, ttl: float) -> bool:
        """One instance at a time runs a cluster-wide task (the expiry sweep, the feed
        push): the holder of its lock in the store, taken or kept for `ttl`."""
        if self.fenced:
            return False
        if not self.clustered:
            return True
        return await self.store.acquire_lock(task, self.instance_id, ttl)

    async def take_over(self, session_id: str, silent_url: str) -> TakeOver:
        """The owner at `silent_url` did not answer: wait (about one TTL at most) for
        its registration to lapse and take its lease. TAKEN when this instance now
        holds the lease; MOVED when another instance took it first (ask that one);
        TIMED_OUT otherwise (the owner still renews its registration: the caller
        answers 503 with Retry-After)."""
        silent: str | None = None
        with trio.move_on_after(TAKEOVER_WAIT_TTLS * self.ttl):
            while True:
                owner = await self.store.acquire_lease(session_id, self.instance_id, self.hold)
                if owner is None:
                    self._hold(session_id)
                    log.info("lease_taken_over", session_id=session_id, reason="owner_silent")
                    return TakeOver.TAKEN
                silent = silent or owner
                url = await self.store.instance_url(owner)
                if owner != silent or (url is not None and url != silent_url):
                    return TakeOver.MOVED
                if url is None and await self.store.take_over_lease(
                    session_id, self.instance_id, owner, self.hold
                ):  # its registration lapsed: it is gone
                    self._hold(session_id)
                    log.info("lease_taken_over", session_id=session_id, reason="owner_gone")
                    return TakeOver.TAKEN
                await trio.sleep(self.ttl / TAKEOVER_POLL_FRACTION)
        return TakeOver.TIMED_OUT

    async def join(self) -> None:
        """Register before serving (stores shared by processes only). A conflicting
        registration may be a crashed predecessor's: wait about one TTL for it to
        lapse, then refuse to start. An unreachable store is waited for."""
        if not self.store.durable:
            return
        deadline = trio.current_time() + JOIN_WAIT_TTLS * self.ttl
        waiting_for = None
        while True:
            try:
                other = await self.store.join(self.member, self.ttl)
            except StoreUnavailable:
                log.warning("store_unavailable_at_start", retry_in_seconds=STORE_RETRY_SECONDS)
                deadline = trio.current_time() + JOIN_WAIT_TTLS * self.ttl
                await trio.sleep(STORE_RETRY_SECONDS)
                continue
            if isinstance(other, Joined):
                self._joined = True
                self._joined_at = trio.current_time()
                return
            if trio.current_time() >= deadline:
                raise JoinRefused(refusal(self.member, other))
            if other != waiting_for:  # once per registration waited for
                log.warning("waiting_for_registration_to_lapse", other=other)
                waiting_for = other
            await trio.sleep(self.ttl / TAKEOVER_POLL_FRACTION)

    async def leave(self) -> None:
        """Unregister at a clean stop: a restart then starts at once."""
        if self.store.durable:
            try:
                await self.store.leave(self.member)
            except StoreError as exc:
                log.warning("leave_failed", error=type(exc).__name__)

    async def keep(self) -> None:
        """Renew the registration and the leases, release and fence, every third of
        a TTL (a supervised child)."""
        if not self.store.durable:
            await trio.sleep_forever()  # one process: nothing to keep (and never "stops")
        while True:
            try:
                async with self._rounds:  # a request may be renewing just now
                    await self._round()
            except StoreError as exc:
                log.warning("lease_keeper_store_error", error=type(exc).__name__)
            await trio.sleep(self.ttl / 3)

    async def _round(self) -> None:
        joined = await self.store.join(self.member, self.ttl)
        if not isinstance(joined, Joined):
            self._fence(joined)
            return
        if self.fenced:
            log.warning("instance_unfenced")
            self.fenced = False
        if joined is Joined.NEW and self._joined:  # it lapsed: others may hold our leases
            log.warning("registration_lapsed", live_sessions=len(self._held))
            self._drop_all()
        self._joined = True
        self._joined_at = trio.current_time()
        if not self.clustered:
            return
        live = self.sessions.live()
        for session_id in [s for s in self._held if s not in live]:  # passivated or stopped
            self._held.pop(session_id, None)
            await self.store.release_lease(session_id, self.instance_id)
        due = trio.current_time() - self.hold / 2
        renewing = sorted(s for s, written in self._held.items() if written <= due)
        lost = set(await self.store.renew_leases(self.instance_id, renewing, self.hold))
        for session_id in renewing:
            if session_id in lost:
                self._held.pop(session_id, None)
                self.sessions.stop(session_id)
                log.warning("lease_lost", session_id=session_id)
            else:
                self._hold(session_id)

    def _fence(self, other: str) -> None:
        """Another instance registered while this one could not renew: its cached
        state may be stale, so stop every session actor and serve none."""
        if not self.fenced:
            log.error("instance_fenced", other=other, detail=refusal(self.member, other))
        self.fenced = True
        self._drop_all()

    def _drop_all(self) -> None:
        """Stop every session actor here (they come back on demand)."""
        self._held.clear()
        for session_id in list(self.sessions.live()):
            self.sessions.stop(session_id)
