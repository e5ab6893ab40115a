"""Carts on Redis: one hash per cart (`doc`, version `v`) on the cart's slot, beside the
idempotency records of its requests, so a write and its answer are one script
(`CART_SAVE`, which also checks the version). A cart's key outlives its expiry by
`EXPIRED_KEPT_SECONDS`, then Redis drops it; its actor answers 404 from its own clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from agentic_commerce.domain.cart import Cart
from agentic_commerce.store.base import IdempotencyRecord, VersionConflict, partition_of
from agentic_commerce.store.redis.batcher import Rounds
from agentic_commerce.store.redis.client import RedisBase
from agentic_commerce.store.redis.idempotency import put_record
from agentic_commerce.store.redis.keys import Client, cart_key, idempotency_key, pxat
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
        """The cart and its answer in one script when they share a slot; an answer whose
        key is on another slot (a cart id not derived from it) is written once the cart
        is in, as a session's commit does."""
        key = cart_key(cart_id)
        beside = answer if answer is not None and partition_of(answer.scope) == cart_id else None
        keys = [key, idempotency_key(beside.scope) if beside else key]
        args = [
            "" if expected_version is None else str(expected_version),
            str((expected_version or 0) + 1),
            doc,
            kept_until_ms,
            encode(beside) if beside else b"",
            pxat(beside.expires_at) if beside else 0,
        ]

        def job(r: Client) -> Rounds[None]:
            [saved] = yield CART_SAVE(r.pipeline(transaction=False), keys, args)
            if not saved:
                raise VersionConflict(cart_id)
            if answer is not None and beside is None:
                yield put_record(r.pipeline(transaction=False), answer)

        await self._rounds(job)
