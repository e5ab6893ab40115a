"""Spec-exact idempotency for POST endpoints.

- 2025-09-29: `Idempotency-Key` optional; a retry with the same body gets the
  first answer; a different body gets 409 `idempotency_conflict`.
- 2026-04-17: the key is required (400 `idempotency_key_required`); a replay
  carries `Idempotent-Replayed: true`; a different body gets 422
  `idempotency_conflict`; a retry while the first request runs gets 409
  `idempotency_in_flight` with `Retry-After` (2025-09-29 answers the same case
  with its `request_not_idempotent` type). The in-flight claim is renewed while
  the request runs and lapses about one `LEASE_TTL_SECONDS` after its process
  died (see `actors/claims.py`).
- Keys are scoped to (merchant, method, path), whatever the transport: an MCP
  tool call counts as the REST request it maps to (`meta.idempotency_key` as its
  `Idempotency-Key`, optional there). Bodies compare by an RFC 8785 canonical JSON
  fingerprint: key order and `1.0` vs `1` do not matter, `null` differs from
  absent, array order matters.
- 5xx answers are never stored; 2xx and 4xx answers live `ttl_seconds`. A
  state change's answer is written in the same store commit as the change.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import rfc8785

from agentic_commerce import metrics
from agentic_commerce.actors.claims import Claims
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.protocol.base import Body
from agentic_commerce.protocol.traits import BY_VERSION
from agentic_commerce.store.base import (
    PARTITION_SEPARATOR,
    Answer,
    Claim,
    IdempotencyRecord,
    Store,
    StoreError,
)

MAX_KEY_LENGTH = 255
RETRY_AFTER_SECONDS = 1
T = TypeVar("T")


def fingerprint(body: Body) -> str:
    """SHA-256 of the body's canonical JSON (of the raw bytes when it is not JSON)."""
    try:
        canonical = b"" if body.empty else rfc8785.dumps(body.value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        canonical = b"raw:" + body.raw
    if body.invalid:
        canonical = b"raw:" + body.raw
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True, slots=True)
class Outcome:
    """An answer ready to send: fresh, or replayed from the store."""

    status: int
    body: bytes
    replayed: bool = False


class InFlight(RequestRejected):
    def __init__(self, version: str) -> None:
        super().__init__(
            "idempotency_in_flight",
            "A request with this Idempotency-Key is still being processed; retry shortly.",
            None,
            status=409,
            # The versions whose Error has the type use it; the newest dropped it.
            type=(
                "invalid_request"
                if BY_VERSION[version].idempotency_key_required
                else "request_not_idempotent"
            ),
            retry_after=RETRY_AFTER_SECONDS,
        )


class Idempotency:
    def __init__(self, store: Store, ttl_seconds: float, claims: Claims) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds
        self.claims = claims

    @staticmethod
    def key_of(header: str | None, version: str, *, optional: bool = False) -> str | None:
        """The key a request carries; `optional`: never required (MCP, whose binding
        only recommends one, on create and complete)."""
        if header is None or header == "":
            if BY_VERSION[version].idempotency_key_required and not optional:
                raise RequestRejected(
                    "idempotency_key_required", "The Idempotency-Key header is required."
                )
            return None
        if len(header) > MAX_KEY_LENGTH:
            raise RequestRejected(
                "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 characters."
            )
        return header

    async def run(
        self,
        *,
        key: str,
        merchant_id: str,
        method: str,
        path: str,
        body: Body,
        version: str,
        partition: str,
        status: int,
        render: Callable[[T], bytes],
        render_error: Callable[[RequestRejected], bytes],
        call: Callable[[Answer], Awaitable[T]],
    ) -> Outcome:
        """Answer once per (merchant, method, path, key): run `call` or replay.

        The record's scope starts with `partition` (the session it belongs to),
        so a sharded store can keep it beside that session's state.

        `call` writes the answer's record with the change it makes (see
        `Answer`); a refusal (4xx) is recorded here, a 5xx never.
        """
        scope = PARTITION_SEPARATOR.join((partition, merchant_id, method, path, key))
        digest = fingerprint(body)
        holder = self.claims.new_holder()
        begun = await self.store.begin_idempotency(scope, holder, self.claims.ttl)
        if isinstance(begun, IdempotencyRecord):
            return self._replay(begun, digest, version)
        if begun is Claim.BUSY:
            metrics.IDEMPOTENCY.labels("in_flight").inc()
            raise InFlight(version)
        self.claims.held(scope, holder)
        recorded = False  # recording the answer ends the claim; else it is released
        try:
            expires_at = time.time() + self.ttl_seconds
            fresh = begun is Claim.CLAIMED_FRESH
            answer = Answer(scope, digest, status, expires_at, version, fresh)
            try:
                result = await call(answer)
            except RequestRejected as refused:
                if refused.status < 500:
                    await self.store.put_idempotency(
                        IdempotencyRecord(
                            scope,
                            digest,
                            refused.status,
                            render_error(refused),
                            (),
                            answer.expires_at,
                        )
                    )
                    recorded = True
                raise
            recorded = True  # `call` recorded its answer (see `Answer`)
            sent = render(result)  # a view's body comes from its cache: the bytes recorded
            metrics.IDEMPOTENCY.labels("stored").inc()
            return Outcome(status, sent)
        finally:
            self.claims.done(scope)
            if not recorded:
                # Unreleased (store down), the claim lapses within its TTL: not worth
                # turning an answered request into a 503.
                with contextlib.suppress(StoreError):
                    await self.store.release_idempotency(scope, holder)

    @staticmethod
    def _replay(stored: IdempotencyRecord, digest: str, version: str) -> Outcome:
        if stored.fingerprint != digest:
            metrics.IDEMPOTENCY.labels("conflict").inc()
            raise Conflict(version)
        metrics.IDEMPOTENCY.labels("replayed").inc()
        return Outcome(stored.status, stored.body, replayed=True)


class Conflict(RequestRejected):
    def __init__(self, version: str) -> None:
        super().__init__(
            "idempotency_conflict",
            "This Idempotency-Key was used with a different request body.",
            None,
            status=BY_VERSION[version].conflict_status,
        )
