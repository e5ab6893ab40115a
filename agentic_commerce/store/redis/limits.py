"""Shared rate-limit buckets and the signature replay cache on Redis: every bucket
on the `{rl}` slot with the busy index, so a settlement is one pipeline there."""

from __future__ import annotations

import math
from collections.abc import Mapping

from agentic_commerce.domain.rate_account import Batch
from agentic_commerce.domain.rate_limit import Decision, Limit, decide
from agentic_commerce.store.redis.batcher import Rounds
from agentic_commerce.store.redis.client import RedisBase
from agentic_commerce.store.redis.keys import BUSY, Client, bucket_key, text
from agentic_commerce.store.redis.scripts import GCRA, SETTLE

# A settled bucket outlives its TAT by this much, so a batch whose settlement came late
# (a retried one) still finds the TAT its requests were counted after.
SETTLED_BUCKET_GRACE_MS = 60_000


class RedisRateLimits(RedisBase):
    async def rate_limit(self, key: str, limit: Limit, now: float) -> tuple[Decision, float]:
        args = [repr(now), repr(limit.interval), repr(limit.burst * limit.interval), key]
        before = await self._one(lambda p: GCRA(p, [bucket_key(key), BUSY], args))
        return decide(limit, float(before) if before else None, now)

    async def settle_rate_limits(
        self, batches: Mapping[str, Batch], now: float
    ) -> dict[str, float]:
        def job(r: Client) -> Rounds[dict[str, float]]:
            pipe = r.pipeline(transaction=False)
            for key, b in batches.items():
                args = [b.count, repr(b.interval), repr(b.tat), repr(now), key]
                SETTLE(pipe, [bucket_key(key), BUSY], [*args, SETTLED_BUCKET_GRACE_MS])
            pipe.zremrangebyscore(BUSY, "-inf", repr(now))
            pipe.zrangebyscore(BUSY, f"({now!r}", "+inf", withscores=True)
            *settled, _, busy = yield pipe
            # Read after this settlement, the index is as late or later for a key in both.
            return {
                **{key: float(tat) for key, tat in zip(batches, settled, strict=True)},
                **{text(key): tat for key, tat in busy},
            }

        return await self._rounds(job)

    async def remember_signature(self, signature: str, ttl_seconds: float) -> bool:
        ttl = max(1, math.ceil(ttl_seconds * 1000))
        return bool(await self._one(lambda p: p.set(f"acs:sig:{signature}", 1, nx=True, px=ttl)))
