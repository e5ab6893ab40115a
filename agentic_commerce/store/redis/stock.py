"""Stock and holds on Redis: a hash per product (on its own slot) with each holder's
units, and per holder the set of products it may hold (the intent)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial

from agentic_commerce.domain.model import Session, Status
from agentic_commerce.store.base import (
    StockLevel,
)
from agentic_commerce.store.redis.batcher import Rounds
from agentic_commerce.store.redis.client import RedisBase
from agentic_commerce.store.redis.keys import HOLDS, Client, held_key, session_keys, stock_key, text
from agentic_commerce.store.redis.scripts import HOLD, UNHOLD
from agentic_commerce.store.serialization import decode

ORPHAN_BATCH = 500  # holders looked at per sweep


def _unhold(r: Client, holder: str, sell: bool) -> Rounds[None]:
    """Release (or sell) every unit the holder holds, then forget the holder."""
    held = held_key(holder)
    [members] = yield r.pipeline(transaction=False).smembers(held)
    unholds = r.pipeline(transaction=False)
    for product_id in sorted(text(p) for p in members):
        UNHOLD(unholds, [stock_key(product_id)], [f"h:{holder}", int(sell)])
    forget = r.pipeline(transaction=False)
    forget.delete(held)  # (a cluster pipeline's `delete` does not chain)
    forget.zrem(HOLDS, holder)
    yield unholds, forget


class RedisStock(RedisBase):
    async def seed_stock(self, levels: Mapping[str, int]) -> None:
        def job(r: Client) -> Rounds[None]:
            pipe = r.pipeline(transaction=False)
            for product_id, units in levels.items():
                pipe.hsetnx(stock_key(product_id), "on_hand", units)
            yield pipe

        await self._rounds(job)

    async def hold(self, holder: str, wants: Mapping[str, int]) -> tuple[str, ...]:
        return await self._rounds(partial(self._hold, holder=holder, wants=dict(wants)))

    def _hold(self, r: Client, *, holder: str, wants: dict[str, int]) -> Rounds[tuple[str, ...]]:
        """One round: the holder's product set (the intent, ahead of the holds) and its
        members, a hold of every product named (0 releases it), then the removal of
        the released ones from the set (after their holds: it stays a superset). A
        product in the set that `wants` does not name (left by a hold whose commit
        never happened) is released in a second round."""
        held = held_key(holder)
        wanted = [p for p, units in wants.items() if units > 0]
        field = f"h:{holder}"
        intents = r.pipeline(transaction=False)
        if wanted:  # before the holds: release and the orphan sweep must find them
            intents.sadd(held, *wanted)
            intents.zadd(HOLDS, {holder: time.time()})
        intents.smembers(held)
        at = len(intents)
        holds = r.pipeline(transaction=False)
        products = sorted(wants)
        for product_id in products:
            HOLD(holds, [stock_key(product_id)], [field, wants[product_id]])
        after = r.pipeline(transaction=False)
        if released := [p for p in products if wants[p] <= 0]:
            after.srem(held, *released)
        replies = yield intents, holds, after
        short = [p for p, s in zip(products, replies[at : at + len(products)], strict=True) if s]
        stray = sorted({text(p) for p in replies[at - 1]} - set(wants))
        if stray:
            fix = r.pipeline(transaction=False)
            for product_id in stray:
                HOLD(fix, [stock_key(product_id)], [field, 0])
            forget = r.pipeline(transaction=False).srem(held, *stray)
            yield fix, forget
        return tuple(short)

    async def release(self, holder: str) -> None:
        await self._rounds(partial(_unhold, holder=holder, sell=False))

    async def consume(self, holder: str) -> None:
        await self._rounds(partial(_unhold, holder=holder, sell=True))

    async def stock(self, product_id: str) -> StockLevel:
        [level] = await self.stocks([product_id])
        return level

    async def stocks(self, product_ids: Sequence[str]) -> list[StockLevel]:
        if not product_ids:
            return []

        def job(r: Client) -> Rounds[list[StockLevel]]:
            pipe = r.pipeline(transaction=False)
            for product_id in product_ids:
                pipe.hmget(stock_key(product_id), ["on_hand", "reserved"])
            replies = yield pipe
            return [
                StockLevel(product_id, int(on_hand or 0), int(reserved or 0))
                for product_id, (on_hand, reserved) in zip(product_ids, replies, strict=True)
            ]

        return await self._rounds(job)

    async def release_orphan_holds(self, older_than: datetime) -> int:
        """At most three round trips a sweep, whatever the number of open sessions:
        the holders due (a batch at most), their sessions, and the next look at those
        still open, which is not before the session's expiry (its actor settles its
        holds by then). Only orphans cost more, one round trip each."""

        def job(r: Client) -> Rounds[int]:
            cutoff = older_than.timestamp()
            [due] = yield r.pipeline(transaction=False).zrangebyscore(
                HOLDS, "-inf", cutoff, 0, ORPHAN_BATCH
            )
            holders = [text(h) for h in due]
            pipe = r.pipeline(transaction=False)
            for holder in holders:
                pipe.hmget(session_keys(holder)[0], ["open", "doc", "exp"])
            later = r.pipeline(transaction=False)
            orphans = []
            for holder, (is_open, doc, exp) in zip(holders, (yield pipe), strict=True):
                if is_open and is_open != b"0":  # xx: never brings back a settled holder
                    later.zadd(HOLDS, {holder: int(exp or 0) / 1e6}, xx=True)
                else:
                    orphans.append((holder, doc))
            yield later
            for holder, doc in orphans:
                completed = doc is not None and decode(Session, doc).status is Status.COMPLETED
                yield from _unhold(r, holder=holder, sell=completed)
            return len(orphans)

        return await self._rounds(job)
