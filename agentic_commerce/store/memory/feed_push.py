"""The feed publisher's progress in memory (lost at exit: a restart pushes everything)."""

from __future__ import annotations

from collections.abc import Mapping

from agentic_commerce.store.base import FeedPush
from agentic_commerce.store.memory.state import MemoryState


class MemoryFeedPush(MemoryState):
    async def load_feed_push(self, target: str) -> FeedPush | None:
        found = self._feed_pushes.get(target)
        return None if found is None else FeedPush(found[0], dict(found[1]))

    async def start_feed_push(self, target: str, feed_id: str) -> None:
        self._feed_pushes[target] = (feed_id, {})

    async def record_feed_push(self, target: str, feed_id: str, digests: Mapping[str, str]) -> None:
        found = self._feed_pushes.get(target)
        if found is not None and found[0] == feed_id:
            found[1].update(digests)
