"""The embedded store: process memory, no configuration, not durable."""

from __future__ import annotations

from agentic_commerce.store.memory.authentication import MemoryAuthentications
from agentic_commerce.store.memory.carts import MemoryCarts
from agentic_commerce.store.memory.feed_push import MemoryFeedPush
from agentic_commerce.store.memory.feeds import MemoryFeeds
from agentic_commerce.store.memory.idempotency import MemoryIdempotency
from agentic_commerce.store.memory.instances import LoneInstance
from agentic_commerce.store.memory.limits import MemoryRateLimits
from agentic_commerce.store.memory.outbox import MemoryOutbox
from agentic_commerce.store.memory.revocations import MemoryRevocations
from agentic_commerce.store.memory.sessions import MemorySessions
from agentic_commerce.store.memory.stock import MemoryStock
from agentic_commerce.store.memory.vault import MemoryVault


class MemoryStore(
    MemorySessions,
    MemoryCarts,
    MemoryIdempotency,
    MemoryStock,
    MemoryVault,
    MemoryAuthentications,
    MemoryFeeds,
    MemoryFeedPush,
    MemoryRateLimits,
    MemoryOutbox,
    LoneInstance,
    MemoryRevocations,
):
    durable = False

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None
