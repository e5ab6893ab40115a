"""The memory store's state: what every capability reads and writes, in one
process. Every method runs without a checkpoint between its reads and writes, so
under trio each one is atomic, which is all the store contract asks."""

from __future__ import annotations

import time
from datetime import datetime

from agentic_commerce.domain.cart import Cart
from agentic_commerce.domain.delegate_authentication import AuthenticationSession
from agentic_commerce.domain.feed import Feed
from agentic_commerce.domain.model import Order, Session
from agentic_commerce.domain.vault import VaultToken
from agentic_commerce.store.base import IdempotencyRecord, OutboxEvent

PURGE_EVERY = 1024  # writes between sweeps of expired entries


class MemoryState:
    """The dictionaries the capabilities share (a commit writes sessions, orders,
    answers and events at once)."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._carts: dict[str, Cart] = {}
        self._orders: dict[str, Order] = {}
        self._idempotency: dict[str, IdempotencyRecord] = {}
        self._claims: dict[str, tuple[str, float]] = {}  # scope: (holder, lapses at)
        self._writes = 0
        self._vault: dict[str, VaultToken] = {}
        self._authentications: dict[str, AuthenticationSession] = {}
        self._feeds: dict[str, Feed] = {}
        self._feed_pushes: dict[str, tuple[str, dict[str, str]]] = {}  # target: (feed, digests)
        self._tats: dict[str, float] = {}
        self._busy: dict[str, float] = {}  # rate-limit keys others should know of, by TAT
        self._signatures: dict[str, float] = {}
        self._on_hand: dict[str, int] = {}
        self._holds: dict[str, dict[str, int]] = {}
        self._reserved: dict[str, int] = {}
        self._expiry: dict[str, datetime] = {}
        self._events: dict[str, OutboxEvent] = {}
        self._hold_times: dict[str, float] = {}
        self._revoked: dict[str, float] = {}  # credential id: until (unix seconds)

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
