"""The feed publisher's progress on Redis: one hash per remote feed (one slot), started
and recorded by scripts that check which feed it is."""

from __future__ import annotations

from collections.abc import Mapping

from agentic_commerce.store.base import FeedPush
from agentic_commerce.store.redis.client import RedisBase
from agentic_commerce.store.redis.keys import feed_push_key, text
from agentic_commerce.store.redis.scripts import FEED_PUSH_RECORD, FEED_PUSH_START

FEED = "feed"
PRODUCT = "p:"  # the field of a product's digest: its id after this


class RedisFeedPush(RedisBase):
    async def load_feed_push(self, target: str) -> FeedPush | None:
        fields = await self._one(lambda p: p.hgetall(feed_push_key(target)))
        state = {text(name): text(value) for name, value in fields.items()}
        if FEED not in state:
            return None
        pushed = {n.removeprefix(PRODUCT): v for n, v in state.items() if n.startswith(PRODUCT)}
        return FeedPush(state[FEED], pushed)

    async def start_feed_push(self, target: str, feed_id: str) -> None:
        await self._one(lambda p: FEED_PUSH_START(p, [feed_push_key(target)], [feed_id]))

    async def record_feed_push(self, target: str, feed_id: str, digests: Mapping[str, str]) -> None:
        pairs = [part for pid, digest in digests.items() for part in (PRODUCT + pid, digest)]
        await self._one(lambda p: FEED_PUSH_RECORD(p, [feed_push_key(target)], [feed_id, *pairs]))
