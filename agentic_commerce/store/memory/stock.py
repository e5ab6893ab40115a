"""Stock and holds in memory."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime

from agentic_commerce.domain.model import Status
from agentic_commerce.domain.state_machine import TERMINAL
from agentic_commerce.store.base import StockLevel
from agentic_commerce.store.memory.state import MemoryState


class MemoryStock(MemoryState):
    async def seed_stock(self, levels: Mapping[str, int]) -> None:
        for product_id, units in levels.items():
            self._on_hand.setdefault(product_id, units)

    async def hold(self, holder: str, wants: Mapping[str, int]) -> tuple[str, ...]:
        current = self._holds.get(holder, {})
        short: list[str] = []
        granted: dict[str, int] = {}
        for product_id in set(current) | set(wants):
            mine = current.get(product_id, 0)
            want = wants.get(product_id, 0)
            free = self._on_hand.get(product_id, 0) - self._reserved.get(product_id, 0) + mine
            if want > free:
                short.append(product_id)
                want = 0
            self._reserved[product_id] = self._reserved.get(product_id, 0) - mine + want
            if want:
                granted[product_id] = want
        if granted:
            self._holds[holder] = granted
            self._hold_times[holder] = time.time()
        else:
            self._holds.pop(holder, None)
            self._hold_times.pop(holder, None)
        return tuple(sorted(short))

    async def release(self, holder: str) -> None:
        self._hold_times.pop(holder, None)
        for product_id, units in self._holds.pop(holder, {}).items():
            self._reserved[product_id] -= units

    async def consume(self, holder: str) -> None:
        self._hold_times.pop(holder, None)
        for product_id, units in self._holds.pop(holder, {}).items():
            self._reserved[product_id] -= units
            self._on_hand[product_id] -= units

    async def stock(self, product_id: str) -> StockLevel:
        return StockLevel(
            product_id, self._on_hand.get(product_id, 0), self._reserved.get(product_id, 0)
        )

    async def stocks(self, product_ids: Sequence[str]) -> list[StockLevel]:
        return [await self.stock(product_id) for product_id in product_ids]

    async def release_orphan_holds(self, older_than: datetime) -> int:
        cutoff = older_than.timestamp()
        orphans = [
            holder
            for holder, taken in self._hold_times.items()
            if taken < cutoff and not self._open(holder)
        ]
        for holder in orphans:
            if self._completed(holder):
                await self.consume(holder)
            else:
                await self.release(holder)
        return len(orphans)

    def _completed(self, session_id: str) -> bool:
        session = self._sessions.get(session_id)
        return session is not None and session.status is Status.COMPLETED

    def _open(self, session_id: str) -> bool:
        session = self._sessions.get(session_id)
        return session is not None and session.status not in TERMINAL
