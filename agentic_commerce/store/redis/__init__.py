"""The Redis store: every durable fact in Redis (AOF), so a restart loses nothing.

All Redis access of the server lives in this package, a module per capability
(the same capabilities as the memory store's) over `client.RedisBase`. redis.asyncio does not run
under trio, so the synchronous client runs in worker threads, and every call is
a *rounds job* (`batcher`): it fills pipelines and yields them, and the
batcher merges the pipelines of concurrent calls into one, sent by one worker
thread in one round trip (`REDIS_POOL_SIZE` of them at once, one connection
each). A request's store calls are one round trip each where nothing in them
waits on an answer: what does not depend on another reply goes in one pipeline
(a commit with its index intents, a hold of every product with its intents, a
token with its answer).

Atomic units, each one Lua script on one slot: a session's commit (version check,
state, idempotency record, outbox events), a claim or save of its outbox events,
a hold, release or sale of one product's units, the first use of one vault token
(only `consumed_by` ever changes, so the refusal rules stay in Python), and one
GCRA bucket: a count (the script keeps the TAT; `domain/rate_limit.decide` makes
the same decision from the TAT it returns) or a settled batch (`Batch.applied_to`),
and the start or a record of a feed push (checked against the remote feed's id).
A settlement is one pipeline: a script per key with activity, then the read of the
busy index, so instances learn each other's buckets in that round trip. Every
rate-limit key is on one slot (`{rl}`): only settlements and failed credentials
reach them, not each request.

Failures. `REDIS_TIMEOUT_SECONDS` bounds every round trip: socket and connect
timeouts, the pool's wait, and a trio deadline around the wait for the replies
(a caller leaves at the deadline; the thread ends by its own socket timeout). A
refused, broken or silent connection raises `StoreUnavailable`. Every write is one atomic script
or idempotent command, so it happened entirely or not at all; after a timeout
the caller cannot know which (a paused Redis still runs what it had received),
hence the session actor reloads its state after one. Connections are checked when
taken from the pool, so service resumes by itself once Redis is back; scripts
are reloaded on `NOSCRIPT` (an empty script cache after a restart).
"""

from __future__ import annotations

from agentic_commerce.store.redis.authentication import RedisAuthentications
from agentic_commerce.store.redis.carts import RedisCarts
from agentic_commerce.store.redis.client import RedisBase, Topology
from agentic_commerce.store.redis.feed_push import RedisFeedPush
from agentic_commerce.store.redis.feeds import RedisFeeds
from agentic_commerce.store.redis.idempotency import RedisIdempotency
from agentic_commerce.store.redis.instances import RedisInstances
from agentic_commerce.store.redis.limits import RedisRateLimits
from agentic_commerce.store.redis.outbox import RedisOutbox
from agentic_commerce.store.redis.revocations import RedisRevocations
from agentic_commerce.store.redis.sessions import RedisSessions
from agentic_commerce.store.redis.stock import RedisStock
from agentic_commerce.store.redis.vault import RedisVault

__all__ = ["RedisBase", "RedisStore", "Topology"]


class RedisStore(
    RedisSessions,
    RedisCarts,
    RedisIdempotency,
    RedisStock,
    RedisVault,
    RedisAuthentications,
    RedisFeeds,
    RedisFeedPush,
    RedisRateLimits,
    RedisOutbox,
    RedisInstances,
    RedisRevocations,
):
    """Every capability on one Redis, a Sentinel group's master or a Redis Cluster."""
