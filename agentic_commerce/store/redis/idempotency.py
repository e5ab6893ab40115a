"""Idempotency keys on Redis: one key per scope on its partition's slot, holding the
claim while its request runs, then the answer (which replaces the claim)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial

from agentic_commerce.store.base import (
    Claim,
    IdempotencyRecord,
    partition_of,
)
from agentic_commerce.store.redis.batcher import Rounds
from agentic_commerce.store.redis.client import RedisBase
from agentic_commerce.store.redis.keys import (
    CLAIM_PREFIX,
    Client,
    claim_value,
    idempotency_key,
    ms,
    pxat,
    session_keys,
)
from agentic_commerce.store.redis.scripts import IDEMPOTENCY_BEGIN, IDEMPOTENCY_RENEW, LEASE_CAS
from agentic_commerce.store.serialization import decode, encode


def put_record(r: Client, record: IdempotencyRecord) -> Client:
    return r.set(idempotency_key(record.scope), encode(record), pxat=pxat(record.expires_at))


def then_answer(r: Client, saved: Client, idempotency: IdempotencyRecord | None) -> Rounds[None]:
    """One round: the `saved` pipeline, then the answer that names what it saved
    (after it, so a replay never names something missing)."""
    answer = r.pipeline(transaction=False)
    if idempotency is not None:
        put_record(answer, idempotency)
    yield saved, answer


def _put_record_job(r: Client, record: IdempotencyRecord) -> Rounds[None]:
    yield put_record(r.pipeline(transaction=False), record)


class RedisIdempotency(RedisBase):
    async def load_idempotency(self, scope: str) -> IdempotencyRecord | None:
        raw = await self._one(lambda p: p.get(idempotency_key(scope)))
        if raw is None or raw.startswith(CLAIM_PREFIX):
            return None
        record = decode(IdempotencyRecord, raw)
        return record if record.expires_at > time.time() else None

    async def put_idempotency(self, record: IdempotencyRecord) -> None:
        await self._rounds(partial(_put_record_job, record=record))

    async def begin_idempotency(
        self, scope: str, holder: str, ttl_seconds: float
    ) -> IdempotencyRecord | Claim:
        keys = [idempotency_key(scope), session_keys(partition_of(scope))[0]]
        args = [claim_value(holder), ms(ttl_seconds)]
        answer = await self._one(lambda p: IDEMPOTENCY_BEGIN(p, keys, args))
        if isinstance(answer, bytes | str):
            record = decode(IdempotencyRecord, answer)
            if record.expires_at > time.time():
                return record
            return Claim.BUSY  # expiring this very moment: let the caller retry
        return (Claim.BUSY, Claim.CLAIMED, Claim.CLAIMED_FRESH)[int(answer)]

    async def renew_idempotency(
        self, claims: Sequence[tuple[str, str]], ttl_seconds: float
    ) -> list[str]:
        def job(r: Client) -> Rounds[list[str]]:
            pipe = r.pipeline(transaction=False)
            for scope, holder in claims:
                args = [claim_value(holder), ms(ttl_seconds)]
                IDEMPOTENCY_RENEW(pipe, [idempotency_key(scope)], args)
            kept = yield pipe
            return [scope for (scope, _), ok in zip(claims, kept, strict=True) if not ok]

        return await self._rounds(job) if claims else []

    async def release_idempotency(self, scope: str, holder: str) -> None:
        key = idempotency_key(scope)
        await self._one(lambda p: LEASE_CAS(p, [key], [claim_value(holder), "", "0"]))
