"""The inventory actor: one writer for stock holds, so concurrent sessions never oversell.

A store that does not answer comes back to the asker as a `StoreUnavailable` value
rather than crashing this actor: an outage would otherwise exhaust the services
supervisor's restart intensity and take the process down."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agentic_commerce.actors.runtime import Actor
from agentic_commerce.store.base import StockLevel, Store, StoreUnavailable


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

    def __init__(self, store: Store) -> None:
        super().__init__("inventory")
        self.store = store

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
            return unavailable
        return None
