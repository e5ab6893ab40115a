"""The store interface: every durable fact goes through it.

A state change is one `Commit`: the session with its new version (checked
against the version it was read at), the idempotency record of the request it
answers, and the outbox events it produced, written together or not at all.
Inventory holds are separate atomic operations taken before a commit and
released when the commit does not happen.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from agentic_commerce.domain.cart import Cart
from agentic_commerce.domain.delegate_authentication import AuthenticationSession
from agentic_commerce.domain.feed import Feed
from agentic_commerce.domain.model import Order, Session
from agentic_commerce.domain.rate_account import Batch
from agentic_commerce.domain.rate_limit import Decision, Limit
from agentic_commerce.domain.vault import Refusal, TokenUse, VaultToken

PARTITION_SEPARATOR = "\x1f"  # an idempotency scope starts with its partition and this


def partition_of(scope: str) -> str:
    """The partition an idempotency scope starts with: the session it belongs to."""
    return scope.split(PARTITION_SEPARATOR, 1)[0]


class StoreError(Exception):
    """Base of store failures."""


class VersionConflict(StoreError):
    """The session changed since it was read (or exists already, on create)."""


class StoreUnavailable(StoreError):
    """The backing service cannot be reached in time; nothing was written."""


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """The stored answer to a request: replayed for a retry with the same body.

    `scope` starts with a partition (the session id it belongs to) and a `\x1f`:
    a sharded store keeps the record beside that partition's state.
    """

    scope: str
    fingerprint: str
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]
    expires_at: float  # unix seconds


class Claim(enum.Enum):
    """A key with no answer yet, as `begin_idempotency` found it."""

    BUSY = "busy"  # another request holds it
    CLAIMED = "claimed"  # now held by the caller
    CLAIMED_FRESH = "claimed_fresh"  # held by the caller; its partition has no session


@dataclass(frozen=True, slots=True)
class Answer:
    """How to record the answer to an idempotent request: its key, and the API
    version its body is rendered in. The writer renders the body once and stores
    it in the same atomic write as the change it answers (or on its own when
    nothing changed); the front end sends those same bytes. A call given an Answer
    returns only once its answer is recorded (that ends the key's claim).

    `fresh`: the store had no session in the key's partition when the key was
    claimed, and the claim keeps any other writer of it out, so a create need not
    look for one (it saves the load's round trip)."""

    scope: str
    fingerprint: str
    status: int
    expires_at: float
    version: str
    fresh: bool = False

    def record(self, body: bytes) -> IdempotencyRecord:
        return IdempotencyRecord(
            self.scope, self.fingerprint, self.status, body, (), self.expires_at
        )


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An order event waiting for (or done with) webhook delivery.

    It carries the order as it was when the event happened, so deliveries show
    each change in turn. Events of one session are delivered in `created_at` order.
    """

    id: str
    type: str  # "order_create" | "order_update"
    session_id: str
    order_id: str | None
    api_version: str
    created_at: datetime
    order: Order | None = None
    state: str = "pending"  # pending | in_flight | delivered | dead
    attempts: int = 0
    next_attempt_at: datetime | None = None  # None: at once
    lease_until: datetime | None = None  # while in flight
    last_error: str | None = None
    trace: str | None = None  # W3C traceparent of the request that caused it (when tracing)


@dataclass(frozen=True, slots=True)
class Commit:
    session: Session
    expected_version: int | None  # None: the session must not exist yet
    idempotency: IdempotencyRecord | None = None
    events: tuple[OutboxEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class StockLevel:
    product_id: str
    on_hand: int  # units not yet sold
    reserved: int  # units held by open sessions

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Joined(enum.Enum):
    NEW = "new"
    RENEWED = "renewed"


@dataclass(frozen=True, slots=True)
class Member:
    """An instance registered on the store: `lone` when it runs without an
    instance URL (nobody can forward to it, so it must be the only one)."""

    instance_id: str
    url: str | None

    @property
    def lone(self) -> bool:
        return self.url is None

    @property
    def name(self) -> str:
        return f"{'lone' if self.lone else 'shared'}:{self.instance_id}"


# The store's capabilities, each the protocol its callers depend on. A backend has
# them all (`Store`); the memory and Redis variants of each live side by side in
# `store/memory/` and `store/redis/`.


class SessionStore(Protocol):
    """Sessions and their orders, and the index of open sessions by expiry."""

    async def load_session(self, session_id: str) -> Session | None: ...

    async def commit(self, commit: Commit) -> Session:
        """Write atomically; returns the session as stored (version incremented)."""

    async def load_order(self, order_id: str) -> Order | None: ...

    async def due_sessions(self, now: datetime, limit: int = 100) -> list[str]:
        """Open sessions whose `expires_at` has passed."""

    async def latest_open_sessions(self, limit: int) -> list[tuple[str, datetime]]:
        """Open sessions with the latest expiry first (the newest, as every session
        lives the same TTL): (id, expires_at), for operators' lists."""


class CartStore(Protocol):
    """Carts (2026-04-17): one document per cart, written with the answer to the request
    that changed it, and checked against the version it was read at (a stale writer,
    e.g. another instance's actor, is refused with `VersionConflict`)."""

    async def load_cart(self, cart_id: str) -> Cart | None: ...

    async def save_cart(
        self, cart: Cart, expected_version: int | None, answer: IdempotencyRecord | None
    ) -> Cart:
        """Write atomically, if the stored version is `expected_version` (None: no cart);
        returns the cart as stored (version incremented)."""

    async def delete_cart(
        self, cart_id: str, expected_version: int, answer: IdempotencyRecord | None
    ) -> None:
        """Drop the cart (canceled or expired) with the answer, under the same check."""


class IdempotencyStore(Protocol):
    """Idempotency keys: a claim while their request runs, then its answer."""

    async def load_idempotency(self, scope: str) -> IdempotencyRecord | None: ...

    async def put_idempotency(self, record: IdempotencyRecord) -> None:
        """Record an answer that came with no state change (a refusal, a no-op)."""

    async def begin_idempotency(
        self, scope: str, holder: str, ttl_seconds: float
    ) -> IdempotencyRecord | Claim:
        """Start answering a key, in one step: its stored answer when there is one;
        else BUSY when another request holds it, else the key is now claimed by
        `holder` (CLAIMED_FRESH when the scope's partition has no session). The
        claim lapses after `ttl_seconds` unless its holder renews it, so a process
        that dies blocks a key for one TTL at most. Recording the key's answer
        (`commit`, `put_idempotency`, `put_vault_token`) ends the claim in the same
        write: only a request that recorded nothing releases it."""

    async def renew_idempotency(
        self, claims: Sequence[tuple[str, str]], ttl_seconds: float
    ) -> list[str]:
        """Extend the (scope, holder) claims still held; returns the scopes lost: neither
        held by their holder any more nor answered (an answer may land just before its
        request forgets the claim, which is no loss)."""

    async def release_idempotency(self, scope: str, holder: str) -> None:
        """Drop the claim if `holder` still holds it (a lapsed claim may be another's)."""


class StockStore(Protocol):
    """Stock levels and the holds sessions take on them."""

    async def seed_stock(self, levels: Mapping[str, int]) -> None:
        """Set initial stock for products the store does not know yet."""

    async def hold(self, holder: str, wants: Mapping[str, int]) -> tuple[str, ...]:
        """Make `holder`'s reservation exactly `wants`, per product, as far as stock allows.

        A product that cannot be held in full is not held at all and is returned
        as short; products the holder no longer wants are released. Naming those
        with 0 units releases them with the rest (on Redis in the same round trip).
        """

    async def release(self, holder: str) -> None: ...

    async def consume(self, holder: str) -> None:
        """Turn the holder's reservation into sold units."""

    async def stock(self, product_id: str) -> StockLevel: ...

    async def stocks(self, product_ids: Sequence[str]) -> list[StockLevel]:
        """The levels of many products at once (on Redis one round trip)."""

    async def release_orphan_holds(self, older_than: datetime) -> int:
        """Settle stock holds taken before `older_than` whose session is not open (a
        process can die between taking a hold and committing its session, or between
        committing an order and selling its units): a completed session's units are
        sold, any other holder's released. Returns how many holders were settled."""


class VaultStore(Protocol):
    """The sandbox PSP's delegated-payment tokens."""

    async def put_vault_token(
        self, token: VaultToken, idempotency: IdempotencyRecord | None
    ) -> None:
        """Store a new token together with the answer to the request that made it."""

    async def load_vault_token(self, token_id: str) -> VaultToken | None: ...

    async def consume_vault_token(self, token_id: str, use: TokenUse) -> Refusal | None:
        """Mark the token used by `use.session_id` if it may pay for `use`; else
        say why not (and leave it unused). Atomic: one session, ever; the same
        session may present it again (a retried complete whose commit failed)."""


async def available_units(stock: StockStore, product_ids: Iterable[str]) -> dict[str, int]:
    """Units available now per product (on hand less held), read in one call."""
    return {level.product_id: level.available for level in await stock.stocks(list(product_ids))}


class FeedStore(Protocol):
    """The product feeds merchants created (metadata only: products come from the catalog)."""

    async def put_feed(self, feed: Feed, idempotency: IdempotencyRecord | None) -> None:
        """Store a new feed together with the answer to the request that made it."""

    async def load_feed(self, feed_id: str) -> Feed | None: ...


@dataclass(frozen=True, slots=True)
class FeedPush:
    """What was pushed to a remote feed: its id on the agent platform, and the digest of
    each product's content as the platform last accepted it."""

    feed_id: str
    pushed: Mapping[str, str]  # product id: digest


class FeedPushStore(Protocol):
    """The feed publisher's progress, per remote feed (`target`: a platform and market),
    so a restart pushes only what changed since the last accepted push."""

    async def load_feed_push(self, target: str) -> FeedPush | None:
        """None until a remote feed was created for the target."""

    async def start_feed_push(self, target: str, feed_id: str) -> None:
        """The remote feed created for the target: nothing is pushed to it yet (the
        digests of an earlier feed are dropped in the same step)."""

    async def record_feed_push(self, target: str, feed_id: str, digests: Mapping[str, str]) -> None:
        """Products the platform accepted into `feed_id`, with the digests of what it
        accepted; ignored when the target's feed is another one by now."""


class AuthenticationStore(Protocol):
    """The sandbox 3-D Secure provider's authentication sessions (no card numbers)."""

    async def put_authentication(
        self, session: AuthenticationSession, idempotency: IdempotencyRecord | None
    ) -> None:
        """Store a session (new or moved on) together with the answer to the request
        that made it. Its steps are deterministic, so concurrent writers write the same."""

    async def load_authentication(self, session_id: str) -> AuthenticationSession | None: ...


class RateLimitStore(Protocol):
    """Shared GCRA buckets: instances judge requests on their own account
    (`domain/rate_account.py`) and settle it here in batches; and the replay cache
    of request signatures."""

    async def rate_limit(self, key: str, limit: Limit, now: float) -> tuple[Decision, float]:
        """Count one request in `key`'s shared bucket at once (atomically): the decision
        and the TAT it leaves. A bucket this leaves full (its next request would be
        refused) is busy until it drains: `settle_rate_limits` returns it to everyone."""

    async def settle_rate_limits(
        self, batches: Mapping[str, Batch], now: float
    ) -> dict[str, float]:
        """Apply each batch to its key's shared bucket (`Batch.applied_to`), in one step
        (on Redis one round trip), and return the shared TAT of each key settled and of
        every busy one: settled by anyone and still ahead of `now`, or left full by
        `rate_limit`."""

    async def remember_signature(self, signature: str, ttl_seconds: float) -> bool:
        """True the first time a signature is seen within `ttl_seconds`; False on a replay."""


class OutboxStore(Protocol):
    """Order events waiting for webhook delivery, oldest first per session."""

    async def claim_due_events(
        self, now: datetime, limit: int, lease_seconds: float
    ) -> list[OutboxEvent]:
        """Mark due events in flight (until `now + lease_seconds`) and return them.

        Only the oldest undelivered event of a session can be due, so a session's
        events go out in order; a dead event does not hold back later ones. An
        in-flight event whose lease has passed (its dispatcher died) is due again.
        """

    async def save_event(self, event: OutboxEvent) -> None:
        """Write back an event's delivery state (delivered, retry later, dead)."""

    async def load_event(self, event_id: str) -> OutboxEvent | None: ...

    async def list_events(
        self, state: str | None, limit: int = 100, newest_first: bool = False
    ) -> list[OutboxEvent]:
        """Events in a state (or all), oldest first (or newest first)."""

    async def outbox_counts(self) -> dict[str, int]:
        """Number of events per state (exact: it may read every undelivered event)."""

    async def outbox_backlog(self) -> tuple[int, int]:
        """(undelivered, dead) events, cheaply whatever the backlog (for gauges):
        undelivered counts pending and in-flight events (on Redis also, for a while,
        the index intent of a commit that did not happen)."""


class InstanceStore(Protocol):
    """Several instances: one live actor per session across them, by a lease per
    session taken by the instance that runs its actor; registrations; named locks.
    A single-process store owns every session."""

    async def acquire_lease(self, session_id: str, instance_id: str, ttl: float) -> str | None:
        """Take (or keep) the session's lease; None when `instance_id` now holds it,
        else the id of the instance that does."""

    async def lease_or_load(
        self, session_id: str, instance_id: str, ttl: float
    ) -> tuple[bool, Session | None]:
        """For a read: (True, None) when `instance_id` holds the session's lease now
        (it was free, or its own), else (False, the committed session or None), in
        one step (on Redis one round trip: the lease and the session share a slot)."""

    async def take_over_lease(
        self, session_id: str, instance_id: str, previous: str, ttl: float
    ) -> bool:
        """Take the lease from `previous` (an instance that is gone), only if it
        still holds it; True when `instance_id` holds it now."""

    async def renew_leases(
        self, instance_id: str, session_ids: Sequence[str], ttl: float
    ) -> list[str]:
        """Extend this instance's leases; returns the sessions whose lease it lost."""

    async def release_lease(self, session_id: str, instance_id: str) -> None: ...

    async def join(self, member: Member, ttl: float) -> Joined | str:
        """Register (or renew) a live instance for `ttl` seconds, with its internal URL
        when it has one: NEW when it was not registered (first, or after its
        registration lapsed), RENEWED when it was; else the registered member that
        forbids it: a lone instance shares the store with nobody, and nobody joins
        while a lone one is registered. A single-process store has no one to meet."""

    async def leave(self, member: Member) -> None:
        """Unregister at a clean stop, so a restart need not wait for the TTL."""

    async def instance_url(self, instance_id: str) -> str | None:
        """Where a registered instance takes forwarded requests; None when it is gone
        (its registration lapsed: one TTL after its last renewal)."""

    async def instance_urls(self) -> dict[str, str]:
        """Every live registered instance that takes forwarded requests: instance id to
        its URL (a single-process store: none)."""

    async def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        """A named lock (e.g. the expiry sweep): True when `owner` holds it for `ttl`."""


class RevocationStore(Protocol):
    """Credentials revoked before they expire (the admin page's sign-ins), so that
    every instance refuses them: an entry per credential id, kept until `until`
    (unix seconds: when the credential would have expired anyway)."""

    async def revoke(self, credential_id: str, until: float) -> None: ...

    async def revoked(self, credential_id: str) -> bool: ...


class Store(
    SessionStore,
    CartStore,
    IdempotencyStore,
    StockStore,
    VaultStore,
    AuthenticationStore,
    FeedStore,
    FeedPushStore,
    RateLimitStore,
    OutboxStore,
    InstanceStore,
    RevocationStore,
    Protocol,
):
    """A backend: every capability, and whether what it keeps survives a restart."""

    durable: bool

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
