"""Carts in memory; an expired cart is dropped when next written around (its actor
answers 404 for it from its own clock before then)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from agentic_commerce.domain.cart import Cart
from agentic_commerce.store.base import IdempotencyRecord, VersionConflict
from agentic_commerce.store.memory.state import PURGE_EVERY, MemoryState


class MemoryCarts(MemoryState):
    async def load_cart(self, cart_id: str) -> Cart | None:
        return self._carts.get(cart_id)

    async def save_cart(
        self, cart: Cart, expected_version: int | None, answer: IdempotencyRecord | None
    ) -> Cart:
        self._check_cart(cart.id, expected_version)
        stored = self._carts[cart.id] = replace(cart, version=(expected_version or 0) + 1)
        if answer is not None:
            self._remember(answer)
        if len(self._carts) % PURGE_EVERY == 0:
            now = datetime.now(UTC)
            for cart_id in [c.id for c in self._carts.values() if c.expires_at <= now]:
                del self._carts[cart_id]
        return stored

    async def delete_cart(
        self, cart_id: str, expected_version: int, answer: IdempotencyRecord | None
    ) -> None:
        self._check_cart(cart_id, expected_version)
        del self._carts[cart_id]
        if answer is not None:
            self._remember(answer)

    def _check_cart(self, cart_id: str, expected_version: int | None) -> None:
        current = self._carts.get(cart_id)
        if (current.version if current is not None else None) != expected_version:
            raise VersionConflict(cart_id)
