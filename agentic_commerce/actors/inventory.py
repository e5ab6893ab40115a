"""The inventory actor: the way of every stock hold, release and sale to the store.

Each change is atomic in the store (one Lua script per product on Redis; no await
inside on the memory store), so concurrent sessions never oversell while the actor
runs several messages at once (`concurrency`): a session's hold does not queue
behind other sessions' store round trips, while one holder's changes keep their
order (`order_key`).

A store that does not answer comes back to the asker as a `StoreUnavailable` value
rather than crashing this actor: an outage would otherwise exhaust the services
supervisor's restart intensity and take the process down. A told sale that fails
is logged; its units stay held until the orphan sweep sells them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from agentic_commerce.actors.runtime import Actor
from agentic_commerce.store.base import StockLevel, Store, StoreUnavailable

log = structlog.get_logger("agentic_commerce.inventory")


@dataclass(frozen=True, slots=True)
class Hold:
    holder: str
    wants: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Release:
    holder: str


@dataclass(frozen=True, slots=True)
class Consume:
    holder: str


@dataclass(frozen=True, slots=True)
class GetStock:
    product_id: str


InventoryMessage = Hold | Release | Consume | GetStock


class InventoryActor(Actor):
    kind = "inventory"
    concurrency = 64

    def __init__(self, store: Store) -> None:
        super().__init__("inventory")
        self.store = store

    def order_key(self, message: InventoryMessage) -> str | None:
        """A holder's changes in the order they were sent (a release told by a
        killed session must not overtake the hold it undoes)."""
        return None if isinstance(message, GetStock) else message.holder

    async def receive(
        self, message: InventoryMessage
    ) -> tuple[str, ...] | StockLevel | StoreUnavailable | None:
        try:
            match message:
                case Hold(holder, wants):
                    return await self.store.hold(holder, wants)
                case Release(holder):
                    await self.store.release(holder)
                case Consume(holder):
                    await self.store.consume(holder)
                case GetStock(product_id):
                    return await self.store.stock(product_id)
        except StoreUnavailable as unavailable:
            if isinstance(message, Consume):
                log.warning("consume_deferred", session_id=message.holder)
            return unavailable
        return None
