"""Product feeds' metadata in memory."""

from __future__ import annotations

from agentic_commerce.domain.feed import Feed
from agentic_commerce.store.base import IdempotencyRecord
from agentic_commerce.store.memory.state import MemoryState


class MemoryFeeds(MemoryState):
    async def put_feed(self, feed: Feed, idempotency: IdempotencyRecord | None) -> None:
        self._feeds[feed.id] = feed
        if idempotency is not None:
            self._remember(idempotency)

    async def load_feed(self, feed_id: str) -> Feed | None:
        return self._feeds.get(feed_id)
