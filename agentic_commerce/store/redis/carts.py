"""Carts on Redis: one hash per cart (`doc`, version `v`) on the cart's slot, beside the
idempotency records of its requests, so a write and its answer are one script
(`CART_SAVE`, which also checks the version). A cart's key outlives its expiry by
`EXPIRED_KEPT_SECONDS`, then Redis drops it; its actor answers 404 from its own clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from agentic_commerce.domain.cart import Cart
from agentic_commerce.store.base import IdempotencyRecord, VersionConflict
from agentic_commerce.store.redis.client import RedisBase
from agentic_commerce.store.redis.keys import cart_key, idempotency_key, pxat
from agentic_commerce.store.redis.scripts import CART_SAVE
from agentic_commerce.store.serialization import decode, encode

EXPIRED_KEPT_SECONDS = 3600


class RedisCarts(RedisBase):
    async def load_cart(self, cart_id: str) -> Cart | None:
        doc = await self._one(lambda p: p.hget(cart_key(cart_id), "doc"))
        return None if doc is None else decode(Cart, doc)

    async def save_cart(
        self, cart: Cart, expected_version: int | None, answer: IdempotencyRecord | None
    ) -> Cart:
        stored = replace(cart, version=(expected_version or 0) + 1)
        kept_until = cart.expires_at + timedelta(seconds=EXPIRED_KEPT_SECONDS)
        await self._write(
            cart.id, expected_version, encode(stored), pxat(kept_until.timestamp()), answer
        )
        return stored

    async def delete_cart(
        self, cart_id: str, expected_version: int, answer: IdempotencyRecord | None
    ) -> None:
        await self._write(cart_id, expected_version, b"", 0, answer)

    async def _write(
        self,
        cart_id: str,
        expected_version: int | None,
        doc: bytes,
        kept_until_ms: int,
        answer: IdempotencyRecord | None,
    ) -> None:
        key = cart_key(cart_id)
        keys = [key, idempotency_key(answer.scope) if answer else key]
        expected = "" if expected_version is None else str(expected_version)
        args = [
            expected,
            str((expected_version or 0) + 1),
            doc,
            kept_until_ms,
            encode(answer) if answer else b"",
            pxat(answer.expires_at) if answer else 0,
        ]
        if not await self._one(lambda p: CART_SAVE(p, keys, args)):
            raise VersionConflict(cart_id)
