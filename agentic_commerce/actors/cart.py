"""The cart actor: the single writer of one cart (Cart API, 2026-04-17).

A virtual actor like a session's: activated by its first message (which loads the
cart), passivated after `idle_seconds` without messages, with its own timer that
drops the cart at `expires_at`. It prices through the pure `domain.cart`
functions and reads stock levels without holding any. Every change is one store
write with the answer to its request, checked against the version the actor read
(a stale actor elsewhere is refused, reloads, and its request is retryable).
A canceled or expired cart is gone: 404.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
import trio

from agentic_commerce.actors.clock import SystemClock
from agentic_commerce.actors.runtime import Actor
from agentic_commerce.actors.session import new_id, store_unavailable
from agentic_commerce.domain import cart as carts
from agentic_commerce.domain.cart import Cart, CartView, EditCart
from agentic_commerce.domain.catalog import Catalog
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.store.base import Answer, Store, StoreError

if TYPE_CHECKING:
    from collections.abc import Callable

    from agentic_commerce.actors.registry import ActorRegistry

log = structlog.get_logger("agentic_commerce.cart")
CART_EXISTS = "cart_exists"


@dataclass(frozen=True, slots=True)
class CreateCart:
    command: EditCart
    merchant_id: str
    answer: Answer | None = None


@dataclass(frozen=True, slots=True)
class ReplaceCart:
    command: EditCart
    merchant_id: str
    answer: Answer | None = None


@dataclass(frozen=True, slots=True)
class CancelCart:
    merchant_id: str
    answer: Answer | None = None


@dataclass(frozen=True, slots=True)
class GetCart:
    merchant_id: str


CartMessage = CreateCart | ReplaceCart | CancelCart | GetCart


@dataclass(frozen=True, slots=True)
class CartDeps:
    """What every cart actor shares; `render` gives an answer's body (to record it)."""

    store: Store
    catalog: Catalog
    clock: SystemClock
    ttl: timedelta
    idle_seconds: float
    render: Callable[[CartView], bytes]


def new_cart_id() -> str:
    return new_id("cart")


def cart_not_found() -> RequestRejected:
    return RequestRejected("not_found", "Cart not found or has expired.", None, status=404)


class CartActor(Actor):
    kind = "cart"

    def __init__(self, cart_id: str, registry: ActorRegistry, deps: CartDeps) -> None:
        super().__init__(f"cart:{cart_id}")
        self.cart_id = cart_id
        self.registry = registry
        self.deps = deps
        self.snapshot: CartView | None = None
        self._loaded = False
        self._idle_at = 0.0

    @property
    def cart(self) -> Cart | None:
        return self.snapshot.cart if self.snapshot is not None else None

    # lifecycle ------------------------------------------------------------
    async def started(self) -> None:
        self._touch()

    def _touch(self) -> None:
        self._idle_at = trio.current_time() + self.deps.idle_seconds

    def deadline(self) -> float:
        cart = self.cart
        if cart is None:
            return self._idle_at
        return min(self._idle_at, self.deps.clock.deadline(cart.expires_at))

    async def on_deadline(self) -> bool:
        if self._due():
            try:
                await self._drop(None)
            except StoreError:
                self._forget()  # gone from Redis on its own; the next load finds it expired
            self._idle_at = trio.current_time()  # nothing left to keep live
        if trio.current_time() < self._idle_at:
            return False
        if self.registry.passivate(self.cart_id, self):
            return True
        self._touch()  # a message is queued: stay
        return False

    def _due(self) -> bool:
        cart = self.cart
        return cart is not None and carts.expired(cart, self.deps.clock.now())

    def _forget(self) -> None:
        """After a store failure or conflict: unknown until loaded again."""
        self._loaded = False
        self.snapshot = None

    # messages -------------------------------------------------------------
    async def receive(self, message: CartMessage) -> CartView | RequestRejected:
        self._touch()
        try:
            if not self._loaded:
                loaded = await self.deps.store.load_cart(self.cart_id)
                self._loaded = True
                self.snapshot = None if loaded is None else self._view(loaded)
            if self._due():
                await self._drop(None)
            return await self._dispatch(message)
        except RequestRejected as refused:
            return refused
        except StoreError:  # down, or another writer went first: reload, retryable
            log.warning("cart_store_failed", cart_id=self.cart_id)
            self._forget()
            return store_unavailable()
        finally:
            if self.cart is None:
                self._idle_at = trio.current_time()  # nothing here: passivate at once

    async def _dispatch(self, message: CartMessage) -> CartView:
        if isinstance(message, CreateCart):
            if self.cart is not None:
                raise RequestRejected(CART_EXISTS, "Cart exists already.", None)
            available = await self._available(message.command)
            cart = carts.create(
                message.command,
                cart_id=self.cart_id,
                merchant_id=message.merchant_id,
                catalog=self.deps.catalog,
                available=available,
                now=self.deps.clock.now(),
                ttl=self.deps.ttl,
            )
            return await self._save(cart, None, message.answer)
        view = self._owned(message.merchant_id)
        match message:
            case GetCart():
                return view
            case ReplaceCart(command, _, answer):
                available = await self._available(command)
                now = self.deps.clock.now()
                changed = carts.replace_contents(
                    view.cart, command, self.deps.catalog, available, now
                )
                return await self._save(changed, view.cart.version, answer)
            case CancelCart(_, answer):
                await self._drop(answer)
                return view  # the cart as it was before deletion, as the spec asks
        raise TypeError(f"unexpected cart message {type(message).__name__}")

    def _owned(self, merchant_id: str) -> CartView:
        if self.snapshot is None or self.snapshot.cart.merchant_id != merchant_id:
            raise cart_not_found()
        return self.snapshot

    def _view(self, cart: Cart) -> CartView:
        return CartView(cart, carts.estimate(cart, self.deps.catalog, self.deps.clock.now()))

    async def _available(self, command: EditCart) -> dict[str, int]:
        """Units available per product asked for, read at once (no hold is taken)."""
        levels: dict[str, int] = {}

        async def read(product_id: str) -> None:
            levels[product_id] = (await self.deps.store.stock(product_id)).available

        async with trio.open_nursery() as nursery:
            for product_id in carts.wanted_products(command, self.deps.catalog):
                nursery.start_soon(read, product_id)
        return levels

    async def _save(self, cart: Cart, expected: int | None, answer: Answer | None) -> CartView:
        view = self._view(replace(cart, version=(expected or 0) + 1))
        record = answer.record(self.deps.render(view)) if answer is not None else None
        stored = await self.deps.store.save_cart(cart, expected, record)
        self.snapshot = CartView(stored, view.quote, view.rendered)
        return self.snapshot

    async def _drop(self, answer: Answer | None) -> None:
        """Delete the cart (canceled, or expired when `answer` is None)."""
        view = self.snapshot
        assert view is not None
        record = answer.record(self.deps.render(view)) if answer is not None else None
        await self.deps.store.delete_cart(self.cart_id, view.cart.version, record)
        self.snapshot = None
        if answer is None:
            log.info("cart_expired", cart_id=self.cart_id)
