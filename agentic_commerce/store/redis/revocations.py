"""Revoked credentials on Redis: one expiring key each, seen by every instance."""

from __future__ import annotations

import time

from agentic_commerce.store.redis.client import RedisBase
from agentic_commerce.store.redis.keys import pxat, revocation_key


class RedisRevocations(RedisBase):
    async def revoke(self, credential_id: str, until: float) -> None:
        if until > time.time():
            key = revocation_key(credential_id)
            await self._one(lambda p: p.set(key, 1, pxat=pxat(until)))

    async def revoked(self, credential_id: str) -> bool:
        key = revocation_key(credential_id)
        return bool(await self._one(lambda p: p.exists(key)))
