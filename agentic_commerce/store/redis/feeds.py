"""Product feeds' metadata on Redis: one key per feed (hash-tagged with its id), written
with the answer that made it."""

from __future__ import annotations

from agentic_commerce.domain.feed import Feed
from agentic_commerce.store.base import IdempotencyRecord
from agentic_commerce.store.redis.batcher import Rounds
from agentic_commerce.store.redis.client import RedisBase
from agentic_commerce.store.redis.idempotency import then_answer
from agentic_commerce.store.redis.keys import Client, feed_key
from agentic_commerce.store.serialization import decode, encode


class RedisFeeds(RedisBase):
    async def put_feed(self, feed: Feed, idempotency: IdempotencyRecord | None) -> None:
        def job(r: Client) -> Rounds[None]:
            saved = r.pipeline(transaction=False).set(feed_key(feed.id), encode(feed))
            yield from then_answer(r, saved, idempotency)

        await self._rounds(job)

    async def load_feed(self, feed_id: str) -> Feed | None:
        raw = await self._one(lambda p: p.get(feed_key(feed_id)))
        return None if raw is None else decode(Feed, raw)
