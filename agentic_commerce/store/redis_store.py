"""The Redis store: every durable fact in Redis (AOF), so a restart loses nothing.

All Redis access of the server lives in this module. redis.asyncio does not run
under trio, so the synchronous client runs in worker threads, and every call is
a *rounds job* (`redis_batcher`): it fills pipelines and yields them, and the
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
the same decision from the TAT it returns) or a settled batch (`Batch.applied_to`).
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

Keys (prefix `acs:`). A hash tag `{...}` puts the keys of one session on one
Redis Cluster slot, so its commit is one script:

    acs:{<sid>}:session           hash  v (version), doc (JSON), open (1/0), exp (µs)
    acs:{<sid>}:ev                list  the session's event ids, oldest first
    acs:{<sid>}:ev:doc / :ev:meta hash  id -> event JSON / "state ready_µs lease_µs"
    acs:{<sid>}:held              set   products the holder (a session) may hold
    acs:{<partition>}:idem:<scope>   idempotency: `claim:<holder>` while its request runs
                                     (PX, renewed), then the record (expires with it):
                                     writing the answer ends the claim in the same write
    acs:{stock:<product>}         hash  on_hand, reserved, h:<holder> -> units
    acs:{<token id>}:token        hash  doc (JSON), by (the consuming session)
    acs:expiry                    zset  open session ids by expires_at (µs)
    acs:holds                     zset  holders by when to look at them again (the time
                                        of their last hold, then their session's expiry)
    acs:order:<order id>          the session id holding the order
    acs:{rl}:<key>                GCRA TAT (expiring)
    acs:{rl}:busy                 zset  rate-limit keys by TAT: each settled one, and a
                                        counted one once full (pruned as TATs pass)
    acs:sig:<sig>                 replay cache entry (expiring)
    acs:members                   zset  live instances ('lone:'/'shared:' + id) by lapse time
    acs:instance:<id>             an instance's internal URL (set with its registration)
    acs:{outbox}:all|live|delivered|dead   zsets of event ids by creation sequence
    acs:{outbox}:where            hash  event id -> session id
    acs:{outbox}:due / :touched   zset / hash  session id -> when its head event is
                                  due (µs) / last index write (wall µs)

Cross-slot indexes: intents first, truth second, readers verify. The expiry
index, the order pointers, the outbox index and a holder's product set cannot
share a slot with what they index, so they are written *before* the write they
describe (ahead of it in the same pipeline, which one Redis runs in order) and
only ever hold a superset of the truth: a process that dies between the two steps
leaves an index entry pointing at nothing, never a committed session, order,
event or hold that no index finds. So an acknowledged order always has its
webhook event in the outbox and the outbox index, with no repair job needed.
Readers check each entry against its slot (`due_sessions` reads the session,
`claim_due_events` runs the session's own script, `load_order` checks the
session's order) and clean up: an entry is dropped when the truth says it is
not needed, and an entry without any truth only once it is older than
`INTENT_GRACE_SECONDS` (its write can no longer be in flight). The price of the
superset is a wasted check now and then. A claim racing a commit (it finds the
intent but not yet the events, and puts the session off by the grace period) is
undone by the commit's last step, which marks the session due now with a score
that claim never read; only a process dying right before that step leaves the
delivery late, by the grace period at most.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import redis
import trio
from redis.client import Pipeline
from redis.exceptions import NoScriptError

from agentic_commerce.domain.model import Order, Session, Status
from agentic_commerce.domain.rate_account import Batch
from agentic_commerce.domain.rate_limit import Decision, Limit, decide
from agentic_commerce.domain.state_machine import TERMINAL
from agentic_commerce.domain.vault import Refusal, TokenUse, VaultToken, refusal
from agentic_commerce.store.base import (
    Claim,
    Commit,
    IdempotencyRecord,
    Joined,
    Member,
    OutboxEvent,
    StockLevel,
    Store,
    StoreUnavailable,
    VersionConflict,
    partition_of,
)
from agentic_commerce.store.redis_batcher import Batcher, Rounds, drive
from agentic_commerce.store.serialization import decode, encode

T = TypeVar("T")
# A `redis.Redis` or a pipeline: jobs read replies by position, which redis-py's
# per-command union types cannot express.
Client = Any
CLAIM_PREFIX = b"claim:"  # an idempotency key's value while its request runs (records are JSON)
INTENT_GRACE_SECONDS = 60.0
PAGE = 200
FINISHED = ("delivered", "dead")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ReadOnlyError)

BUSY = "acs:{rl}:busy"
# A settled bucket outlives its TAT by this much, so a batch whose settlement came late
# (a retried one) still finds the TAT its requests were counted after.
SETTLED_BUCKET_GRACE_MS = 60_000
EXPIRY = "acs:expiry"
MEMBERS_KEY = "acs:members"
# Due scores of freshly committed events: below every real due time (so due now),
# unique per commit (wall µs) and in commit order among themselves.
FRESH_COMMIT_BASE_US = 2**53
HOLDS = "acs:holds"
ORPHAN_BATCH = 500  # holders looked at per sweep
OUTBOX_ALL = "acs:{outbox}:all"
OUTBOX_LIVE = "acs:{outbox}:live"
OUTBOX_WHERE = "acs:{outbox}:where"
OUTBOX_SEQ = "acs:{outbox}:seq"
OUTBOX_DUE = "acs:{outbox}:due"
OUTBOX_TOUCHED = "acs:{outbox}:touched"
OUTBOX_SETS = {"live": OUTBOX_LIVE, **{s: f"acs:{{outbox}}:{s}" for s in FINISHED}}


def _us(at: datetime) -> int:
    """Exact microseconds since the epoch (a float timestamp would round)."""
    return (at - EPOCH) // ONE_US


def _at(us: int) -> datetime:
    return EPOCH + us * ONE_US


def _wall_us() -> int:
    """Wall time, for the age of index writes (due times follow the caller's clock)."""
    return time.time_ns() // 1000


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# keys ------------------------------------------------------------------------------


def _session_keys(sid: str) -> tuple[str, str, str, str]:
    """The session hash and its outbox: order list, docs, delivery metadata."""
    tag = f"acs:{{{sid}}}"
    return f"{tag}:session", f"{tag}:ev", f"{tag}:ev:doc", f"{tag}:ev:meta"


def _idempotency_key(scope: str) -> str:
    """One key per scope: its in-flight claim, then its answer (which replaces the claim)."""
    return f"acs:{{{partition_of(scope)}}}:idem:{scope}"


def _claim_value(holder: str) -> bytes:
    return CLAIM_PREFIX + holder.encode()


def _held_key(holder: str) -> str:
    return f"acs:{{{holder}}}:held"


def _lease_key(session_id: str) -> str:
    """Beside the session's state, on its slot."""
    return f"acs:{{{session_id}}}:lease"


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _stock_key(product_id: str) -> str:
    return f"acs:{{stock:{product_id}}}"


def _token_key(token_id: str) -> str:
    return f"acs:{{{token_id}}}:token"


def _instance_key(instance_id: str) -> str:
    return f"acs:instance:{instance_id}"


def _order_key(order_id: str) -> str:
    return f"acs:order:{order_id}"


def _bucket_key(key: str) -> str:
    """A rate-limit bucket, on the slot of the busy index."""
    return f"acs:{{rl}}:{key}"


# scripts ---------------------------------------------------------------------------


class Script:
    """A Lua script called by SHA (in pipelines too); `NOSCRIPT` reloads them all."""

    registry: list[Script] = []

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        Script.registry.append(self)

    def __call__(self, client: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return client.evalsha(self.sha, len(keys), *keys, *args)


COMMIT = Script("""
-- KEYS: session, ev, ev:doc, ev:meta[, idempotency record]
-- ARGV: expected version ('' = new), version, doc, open, exp, record, record PXAT ms,
--       then (id, doc, meta) per event
if (redis.call('HGET', KEYS[1], 'v') or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'doc', ARGV[3], 'open', ARGV[4], 'exp', ARGV[5])
if KEYS[5] then redis.call('SET', KEYS[5], ARGV[6], 'PXAT', ARGV[7]) end
for i = 8, #ARGV, 3 do
  redis.call('RPUSH', KEYS[2], ARGV[i])
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 2])
end
return 1
""")

# The session's first undelivered event (a dead one does not hold back later
# ones) and when it is ready: its retry time, or its lease while in flight.
HEAD = """
local function head(order, meta)
  for _, id in ipairs(redis.call('LRANGE', order, 0, -1)) do
    local state, ready, lease = string.match(redis.call('HGET', meta, id) or '',
                                             '^(%S+) (%d+) (%d+)$')
    if state and state ~= 'delivered' and state ~= 'dead' then
      if state == 'in_flight' and tonumber(lease) > tonumber(ready) then
        return id, ready, lease
      end
      return id, ready, ready
    end
  end
end
"""

EVENT_CLAIM = Script(
    HEAD
    + """
-- KEYS: ev, ev:doc, ev:meta; ARGV: now µs, lease until µs
-- -> {} nothing undelivered | {ready} not yet due | {lease, id, doc} claimed
local id, retry_at, ready = head(KEYS[1], KEYS[3])
if not id then return {} end
if tonumber(ready) > tonumber(ARGV[1]) then return {ready} end
redis.call('HSET', KEYS[3], id, 'in_flight ' .. retry_at .. ' ' .. ARGV[2])
return {ARGV[2], id, redis.call('HGET', KEYS[2], id)}
"""
)

EVENT_SAVE = Script(
    HEAD
    + """
-- KEYS: ev, ev:doc, ev:meta; ARGV: id, doc, meta -> {} | {ready of the new head}
if redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) == 1 then
  redis.call('RPUSH', KEYS[1], ARGV[1])
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
local id, _, ready = head(KEYS[1], KEYS[3])
if not id then return {} end
return {ready}
"""
)

OUTBOX_INDEX = Script("""
-- KEYS: all, live, delivered, dead, where, seq, due, touched
-- ARGV: session id, state, wall µs, event ids...
-- Registers the events and files them under `state` (pending and in_flight: live).
local target = KEYS[2]
if ARGV[2] == 'delivered' then target = KEYS[3] elseif ARGV[2] == 'dead' then target = KEYS[4] end
for i = 4, #ARGV do
  local id = ARGV[i]
  local seq = redis.call('ZSCORE', KEYS[1], id)
  if not seq then
    seq = redis.call('INCR', KEYS[6])
    redis.call('ZADD', KEYS[1], seq, id)
    redis.call('HSET', KEYS[5], id, ARGV[1])
  end
  for k = 2, 4 do
    if KEYS[k] == target then redis.call('ZADD', KEYS[k], seq, id)
    else redis.call('ZREM', KEYS[k], id) end
  end
end
if target == KEYS[2] then
  redis.call('ZADD', KEYS[7], 'LT', 0, ARGV[1])
  redis.call('HSET', KEYS[8], ARGV[1], ARGV[3])
end
return 1
""")

DUE_SETTLE = Script("""
-- KEYS: due, touched; ARGV: session id, ready µs ('' = nothing undelivered),
-- score read before, now µs, wall µs, grace µs (`touched` and the grace are wall time,
-- due times are the caller's clock)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[3]) then return 0 end
if ARGV[2] ~= '' then redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) return 1 end
local age = tonumber(ARGV[5]) - tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if age < tonumber(ARGV[6]) then
  -- an event of a commit still in flight may be on its way: look again after the grace
  local later = tonumber(ARGV[4]) + tonumber(ARGV[6]) - age
  redis.call('ZADD', KEYS[1], string.format('%.0f', later), ARGV[1])
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
""")

ZSET_CAS = Script("""
-- KEYS: zset; ARGV: member, score read before, new score ('' = remove)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then redis.call('ZREM', KEYS[1], ARGV[1])
else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
return 1
""")

HOLD = Script("""
-- KEYS: product; ARGV: holder field, units wanted -> 1 when short (then nothing held)
local on_hand = tonumber(redis.call('HGET', KEYS[1], 'on_hand') or '0')
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')
local mine = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local want = tonumber(ARGV[2])
local short = 0
if want > on_hand - reserved + mine then short = 1 want = 0 end
if want ~= mine then
  redis.call('HSET', KEYS[1], 'reserved', reserved - mine + want)
  if want > 0 then redis.call('HSET', KEYS[1], ARGV[1], want)
  else redis.call('HDEL', KEYS[1], ARGV[1]) end
end
return short
""")

UNHOLD = Script("""
-- KEYS: product; ARGV: holder field, 1 to sell the units (consume) or 0 to release
local mine = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if mine == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'reserved', -mine)
if ARGV[2] == '1' then redis.call('HINCRBY', KEYS[1], 'on_hand', -mine) end
redis.call('HDEL', KEYS[1], ARGV[1])
return mine
""")

TOKEN_USE = Script("""
-- KEYS: token; ARGV: session id -> '' (now used by it) or the session that used it
if not redis.call('HGET', KEYS[1], 'doc') then return '' end
local by = redis.call('HGET', KEYS[1], 'by') or ''
if by ~= '' and by ~= ARGV[1] then return by end
redis.call('HSET', KEYS[1], 'by', ARGV[1])
return ''
""")

IDEMPOTENCY_BEGIN = Script("""
-- KEYS: the scope's key, which holds its answer (a record) or its in-flight claim
-- ('claim:' .. holder); the session hash of its partition (same slot).
-- ARGV: claim value, claim ttl ms.
-- Returns the stored record, else 0 (another request holds it), else once claimed
-- 1 (the partition has a session) or 2 (it has none).
local value = redis.call('GET', KEYS[1])
if not value then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2 - redis.call('EXISTS', KEYS[2])
end
if string.sub(value, 1, 6) == 'claim:' then return 0 end
return value
""")
IDEMPOTENCY_RENEW = Script("""
-- KEYS: the scope's key; ARGV: claim value, ttl ms.
-- 1 when the claim is extended or the key is answered (a record replaced the claim),
-- 0 when it is lost (it lapsed, or another request claimed the key since).
local value = redis.call('GET', KEYS[1])
if value == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if value and string.sub(value, 1, 6) ~= 'claim:' then return 1 end
return 0
""")
INSTANCE_JOIN = Script("""
-- KEYS: members (a sorted set: member name -> lapse time, ms of Redis' clock), the
-- member's instance URL key. ARGV: member ('lone:<id>' or 'shared:<id>'), ttl ms, URL
-- ('' for none). The URL is written in the same step as the registration and lapses
-- with it, so a URL that is there always belongs to a registered instance and one
-- that is gone to an instance whose registration lapsed, even after Redis lost writes.
-- Returns 1 once registered anew, 2 once renewed (it was still registered), else
-- the live member that forbids it: a lone member shares the store with nobody, and
-- nobody joins while a lone one is live.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local lone = string.sub(ARGV[1], 1, 5) == 'lone:'
for _, other in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if other ~= ARGV[1] and (lone or string.sub(other, 1, 5) == 'lone:') then return other end
end
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2]) end
return 2 - redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
""")
LEASE_ACQUIRE = Script("""
-- KEYS: lease. ARGV: instance, ttl ms. Returns '' when the caller holds it, else the holder.
local holder = redis.call('GET', KEYS[1])
if not holder or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ''
end
return holder
""")
LEASE_OR_LOAD = Script("""
-- KEYS: lease, session (one slot). ARGV: instance, ttl ms.
-- {} when the caller holds the lease now (it was free or the caller's), else {doc}
-- (false when there is no session).
local holder = redis.call('GET', KEYS[1])
if not holder or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {}
end
return {redis.call('HGET', KEYS[2], 'doc')}
""")
LEASE_CAS = Script("""
-- KEYS: lease. ARGV: expected holder ('' = none), new holder ('' = delete), ttl ms.
local holder = redis.call('GET', KEYS[1]) or ''
if holder ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
""")
GCRA = Script("""
-- KEYS: bucket, busy; ARGV: now, interval, window (seconds, exact doubles), key
-- -> the TAT before (`domain/rate_limit.decide` does the same arithmetic to build the
-- decision). A bucket left full (its next request refused) is busy until its TAT.
local now, interval, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored and tonumber(stored) > now then tat = tonumber(stored) end
if tat + interval - now <= window then
  tat = tat + interval
  redis.call('SET', KEYS[1], string.format('%.17g', tat), 'PX', math.ceil((tat - now) * 1000) + 1)
end
if tat + interval - now > window then
  redis.call('ZADD', KEYS[2], 'GT', string.format('%.17g', tat), ARGV[4])
end
return stored or ''
""")
SETTLE = Script("""
-- KEYS: bucket, busy; ARGV: count, interval, batch TAT, now (exact doubles), key, grace ms
-- -> the TAT after (`Batch.applied_to`: the stored TAT advanced by the batch's intervals
-- one at a time, the same bits as counting each request, or the batch's own if later)
local tat = tonumber(redis.call('GET', KEYS[1]) or '')
if tat then
  local interval = tonumber(ARGV[2])
  for _ = 1, tonumber(ARGV[1]) do tat = tat + interval end
end
local batch = tonumber(ARGV[3])
if not tat or batch > tat then tat = batch end
local text = string.format('%.17g', tat)
local ms = math.ceil((tat - tonumber(ARGV[4])) * 1000)
redis.call('SET', KEYS[1], text, 'PX', math.max(ms, 0) + tonumber(ARGV[6]))
redis.call('ZADD', KEYS[2], 'GT', text, ARGV[5])
return text
""")


# the store -------------------------------------------------------------------------


class RedisStore(Store):
    durable = True

    def __init__(self, url: str, *, timeout: float = 2.0, pool_size: int = 1) -> None:
        self._timeout = timeout
        self._pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=pool_size,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        self._redis = redis.Redis(connection_pool=self._pool)
        self._batcher = Batcher(self._redis, hops=pool_size)
        self._grace_us = int(INTENT_GRACE_SECONDS * 1e6)

    # running calls -------------------------------------------------------------------
    async def _rounds(self, job: Callable[[Client], Rounds[T]]) -> T:
        """A job, its round trips merged with those of concurrent calls. An empty
        script cache (Redis restarted) is refilled and the job run again, which is
        safe as a failed script wrote nothing and the plain commands around scripts
        are idempotent."""
        try:
            try:
                return await drive(job(self._redis), self._round)
            except NoScriptError:
                await drive(_load_scripts(self._redis), self._round)
                return await drive(job(self._redis), self._round)
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"Redis: {type(exc).__name__}") from None

    async def _one(self, fill: Callable[[Client], Any]) -> Any:
        """The reply to one command, queued on a pipeline by `fill`."""
        return await self._rounds(partial(_one, fill=fill))

    async def _round(self, pipe: Pipeline) -> list[Any]:
        """One round trip, abandoned at the timeout."""
        with trio.move_on_after(self._timeout):
            return await self._batcher.round(pipe)
        raise StoreUnavailable(f"Redis did not answer within {self._timeout:g}s")

    async def ping(self) -> bool:
        try:
            return bool(await self._one(lambda p: p.ping()))
        except StoreUnavailable:
            return False

    async def close(self) -> None:
        self._pool.disconnect()

    # sessions and orders -------------------------------------------------------------
    async def load_session(self, session_id: str) -> Session | None:
        return await self._rounds(partial(_load_session, session_id=session_id))

    async def commit(self, commit: Commit) -> Session:
        stored = replace(commit.session, version=(commit.expected_version or 0) + 1)
        await self._rounds(partial(self._commit, commit=commit, stored=stored))
        return stored

    def _commit(self, r: Client, *, commit: Commit, stored: Session) -> Rounds[None]:
        """One round trip: the cross-slot intents, the commit script, then the due mark
        of its events, in one pipeline that a single Redis runs in order."""
        sid = stored.id
        is_open = stored.status not in TERMINAL
        pipe = r.pipeline(transaction=False)
        if is_open:
            pipe.zadd(EXPIRY, {sid: _us(stored.expires_at)}, lt=True)
        if stored.order is not None:
            pipe.set(_order_key(stored.order.id), sid)
        if commit.events:
            _index_events(pipe, sid, "pending", [e.id for e in commit.events])
        at = len(pipe)  # the commit script's reply
        keys = list(_session_keys(sid))
        record, apart = commit.idempotency, None
        if record is not None and partition_of(record.scope) == sid:
            keys.append(_idempotency_key(record.scope))
        else:
            record, apart = None, record  # another slot: written once the commit is in
        args: list[Any] = [
            "" if commit.expected_version is None else commit.expected_version,
            stored.version,
            encode(stored),
            int(is_open),
            _us(stored.expires_at),
            b"" if record is None else encode(record),
            0 if record is None else _pxat(record.expires_at),
        ]
        for event in commit.events:
            args += [event.id, encode(event), _meta(event)]
        COMMIT(pipe, keys, args)
        if commit.events:
            # Due now, with a score no claim has read: one that ran between the intent
            # and the commit found nothing yet, and its settle (a compare-and-set on
            # the score it read) would otherwise put the delivery off by the grace.
            # (After a version conflict it only makes a claim look once in vain.)
            pipe.zadd(OUTBOX_DUE, {sid: _wall_us() - FRESH_COMMIT_BASE_US})
        if not (yield pipe)[at]:
            raise VersionConflict(sid)
        if apart is not None:
            yield _put_record(r.pipeline(transaction=False), apart)

    async def load_order(self, order_id: str) -> Order | None:
        def job(r: Client) -> Rounds[Order | None]:
            [sid] = yield r.pipeline(transaction=False).get(_order_key(order_id))
            session = None if sid is None else (yield from _load_session(r, _text(sid)))
            order = None if session is None else session.order
            return order if order is not None and order.id == order_id else None

        return await self._rounds(job)

    # idempotency ---------------------------------------------------------------------
    async def load_idempotency(self, scope: str) -> IdempotencyRecord | None:
        raw = await self._one(lambda p: p.get(_idempotency_key(scope)))
        if raw is None or raw.startswith(CLAIM_PREFIX):
            return None
        record = decode(IdempotencyRecord, raw)
        return record if record.expires_at > time.time() else None

    async def put_idempotency(self, record: IdempotencyRecord) -> None:
        await self._rounds(partial(_put_record_job, record=record))

    async def begin_idempotency(
        self, scope: str, holder: str, ttl_seconds: float
    ) -> IdempotencyRecord | Claim:
        keys = [_idempotency_key(scope), _session_keys(partition_of(scope))[0]]
        args = [_claim_value(holder), _ms(ttl_seconds)]
        answer = await self._one(lambda p: IDEMPOTENCY_BEGIN(p, keys, args))
        if isinstance(answer, bytes | str):
            record = decode(IdempotencyRecord, answer)
            if record.expires_at > time.time():
                return record
            return Claim.BUSY  # expiring this very moment: let the caller retry
        return (Claim.BUSY, Claim.CLAIMED, Claim.CLAIMED_FRESH)[int(answer)]

    async def renew_idempotency(
        self, claims: Sequence[tuple[str, str]], ttl_seconds: float
    ) -> list[str]:
        def job(r: Client) -> Rounds[list[str]]:
            pipe = r.pipeline(transaction=False)
            for scope, holder in claims:
                args = [_claim_value(holder), _ms(ttl_seconds)]
                IDEMPOTENCY_RENEW(pipe, [_idempotency_key(scope)], args)
            kept = yield pipe
            return [scope for (scope, _), ok in zip(claims, kept, strict=True) if not ok]

        return await self._rounds(job) if claims else []

    async def release_idempotency(self, scope: str, holder: str) -> None:
        key = _idempotency_key(scope)
        await self._one(lambda p: LEASE_CAS(p, [key], [_claim_value(holder), "", "0"]))

    # inventory -----------------------------------------------------------------------
    async def seed_stock(self, levels: Mapping[str, int]) -> None:
        def job(r: Client) -> Rounds[None]:
            pipe = r.pipeline(transaction=False)
            for product_id, units in levels.items():
                pipe.hsetnx(_stock_key(product_id), "on_hand", units)
            yield pipe

        await self._rounds(job)

    async def hold(self, holder: str, wants: Mapping[str, int]) -> tuple[str, ...]:
        return await self._rounds(partial(self._hold, holder=holder, wants=dict(wants)))

    def _hold(self, r: Client, *, holder: str, wants: dict[str, int]) -> Rounds[tuple[str, ...]]:
        """One round trip: the holder's product set (the intent, ahead of the holds), a
        hold of every product named (0 releases it) and the set as it then is. A
        product in the set that `wants` does not name (left by a hold whose commit
        never happened) is released in a second round trip."""
        held = _held_key(holder)
        wanted = [p for p, units in wants.items() if units > 0]
        field = f"h:{holder}"
        pipe = r.pipeline(transaction=False)
        if wanted:  # before the holds: release and the orphan sweep must find them
            pipe.sadd(held, *wanted)
            pipe.zadd(HOLDS, {holder: time.time()})
        at = len(pipe)
        products = sorted(wants)
        for product_id in products:
            HOLD(pipe, [_stock_key(product_id)], [field, wants[product_id]])
        if released := [p for p in products if wants[p] <= 0]:
            pipe.srem(held, *released)  # after their holds: the set stays a superset
        pipe.smembers(held)
        replies = yield pipe
        short = [p for p, s in zip(products, replies[at : at + len(products)], strict=True) if s]
        stray = sorted({_text(p) for p in replies[-1]} - set(wants))
        if stray:
            fix = r.pipeline(transaction=False)
            for product_id in stray:
                HOLD(fix, [_stock_key(product_id)], [field, 0])
            fix.srem(held, *stray)
            yield fix
        return tuple(short)

    async def release(self, holder: str) -> None:
        await self._rounds(partial(_unhold, holder=holder, sell=False))

    async def consume(self, holder: str) -> None:
        await self._rounds(partial(_unhold, holder=holder, sell=True))

    async def stock(self, product_id: str) -> StockLevel:
        on_hand, reserved = await self._one(
            lambda p: p.hmget(_stock_key(product_id), ["on_hand", "reserved"])
        )
        return StockLevel(product_id, int(on_hand or 0), int(reserved or 0))

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
            holders = [_text(h) for h in due]
            pipe = r.pipeline(transaction=False)
            for holder in holders:
                pipe.hmget(_session_keys(holder)[0], ["open", "doc", "exp"])
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

    # sandbox vault -------------------------------------------------------------------
    async def put_vault_token(
        self, token: VaultToken, idempotency: IdempotencyRecord | None
    ) -> None:
        def job(r: Client) -> Rounds[None]:
            pipe = r.pipeline(transaction=False)
            pipe.hset(
                _token_key(token.id), mapping={"doc": encode(token), "by": token.consumed_by or ""}
            )
            if idempotency is not None:  # after the token: a replay never names a missing one
                _put_record(pipe, idempotency)
            yield pipe

        await self._rounds(job)

    async def load_vault_token(self, token_id: str) -> VaultToken | None:
        return await self._rounds(partial(_load_token, token_id=token_id))

    async def consume_vault_token(self, token_id: str, use: TokenUse) -> Refusal | None:
        def job(r: Client) -> Rounds[Refusal | None]:
            token = yield from _load_token(r, token_id=token_id)
            reason = refusal(token, use)
            if reason is not None or token is None:
                return reason
            # Only `consumed_by` ever changes: the script sets it unless another session did.
            [used_by] = yield TOKEN_USE(
                r.pipeline(transaction=False), [_token_key(token_id)], [use.session_id]
            )
            return refusal(replace(token, consumed_by=_text(used_by)), use) if used_by else None

        return await self._rounds(job)

    # request protection --------------------------------------------------------------
    async def rate_limit(self, key: str, limit: Limit, now: float) -> tuple[Decision, float]:
        args = [repr(now), repr(limit.interval), repr(limit.burst * limit.interval), key]
        before = await self._one(lambda p: GCRA(p, [_bucket_key(key), BUSY], args))
        return decide(limit, float(before) if before else None, now)

    async def settle_rate_limits(
        self, batches: Mapping[str, Batch], now: float
    ) -> dict[str, float]:
        def job(r: Client) -> Rounds[dict[str, float]]:
            pipe = r.pipeline(transaction=False)
            for key, b in batches.items():
                args = [b.count, repr(b.interval), repr(b.tat), repr(now), key]
                SETTLE(pipe, [_bucket_key(key), BUSY], [*args, SETTLED_BUCKET_GRACE_MS])
            pipe.zremrangebyscore(BUSY, "-inf", repr(now))
            pipe.zrangebyscore(BUSY, f"({now!r}", "+inf", withscores=True)
            *settled, _, busy = yield pipe
            # Read after this settlement, the index is as late or later for a key in both.
            return {
                **{key: float(tat) for key, tat in zip(batches, settled, strict=True)},
                **{_text(key): tat for key, tat in busy},
            }

        return await self._rounds(job)

    async def remember_signature(self, signature: str, ttl_seconds: float) -> bool:
        ttl = max(1, math.ceil(ttl_seconds * 1000))
        return bool(await self._one(lambda p: p.set(f"acs:sig:{signature}", 1, nx=True, px=ttl)))

    # several instances ---------------------------------------------------------------
    async def acquire_lease(self, session_id: str, instance_id: str, ttl: float) -> str | None:
        args = [instance_id, _ms(ttl)]
        holder = await self._one(lambda p: LEASE_ACQUIRE(p, [_lease_key(session_id)], args))
        text = holder.decode() if isinstance(holder, bytes) else str(holder)
        return text or None

    async def lease_or_load(
        self, session_id: str, instance_id: str, ttl: float
    ) -> tuple[bool, Session | None]:
        keys = [_lease_key(session_id), _session_keys(session_id)[0]]
        args = [instance_id, _ms(ttl)]
        reply = await self._one(lambda p: LEASE_OR_LOAD(p, keys, args))
        if not reply:
            return True, None
        return False, None if reply[0] is None else decode(Session, reply[0])

    async def take_over_lease(
        self, session_id: str, instance_id: str, previous: str, ttl: float
    ) -> bool:
        args = [previous, instance_id, _ms(ttl)]
        return bool(await self._one(lambda p: LEASE_CAS(p, [_lease_key(session_id)], args)))

    async def renew_leases(
        self, instance_id: str, session_ids: Sequence[str], ttl: float
    ) -> list[str]:
        def job(r: Client) -> Rounds[list[str]]:
            pipe = r.pipeline(transaction=False)
            for session_id in session_ids:
                LEASE_CAS(pipe, [_lease_key(session_id)], [instance_id, instance_id, _ms(ttl)])
            kept = yield pipe
            return [sid for sid, ok in zip(session_ids, kept, strict=True) if not ok]

        return await self._rounds(job) if session_ids else []

    async def release_lease(self, session_id: str, instance_id: str) -> None:
        args = [instance_id, "", "0"]
        await self._one(lambda p: LEASE_CAS(p, [_lease_key(session_id)], args))

    async def join(self, member: Member, ttl: float) -> Joined | str:
        keys = [MEMBERS_KEY, _instance_key(member.instance_id)]
        args = [member.name, _ms(ttl), member.url or ""]
        joined = await self._one(lambda p: INSTANCE_JOIN(p, keys, args))
        if isinstance(joined, bytes | str):
            return _text(joined)
        return Joined.NEW if joined == 1 else Joined.RENEWED

    async def leave(self, member: Member) -> None:
        def job(r: Client) -> Rounds[None]:
            pipe = r.pipeline(transaction=False)
            yield pipe.zrem(MEMBERS_KEY, member.name).delete(_instance_key(member.instance_id))

        await self._rounds(job)

    async def instance_url(self, instance_id: str) -> str | None:
        raw = await self._one(lambda p: p.get(_instance_key(instance_id)))
        return None if raw is None else bytes(raw).decode()

    async def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        args = [owner, _ms(ttl)]
        holder = await self._one(lambda p: LEASE_ACQUIRE(p, [f"acs:lock:{name}"], args))
        return not holder

    # expiry index --------------------------------------------------------------------
    async def due_sessions(self, now: datetime, limit: int = 100) -> list[str]:
        return await self._rounds(partial(self._due_sessions, now=_us(now), limit=limit))

    def _due_sessions(self, r: Client, *, now: int, limit: int) -> Rounds[list[str]]:
        due: list[str] = []
        offset = 0
        while len(due) < limit:
            [rows] = yield r.pipeline(transaction=False).zrangebyscore(
                EXPIRY, "-inf", now, start=offset, num=limit, withscores=True
            )
            if not rows:
                break
            sids = [_text(sid) for sid, _ in rows]
            pipe = r.pipeline(transaction=False)
            for sid in sids:
                pipe.hmget(_session_keys(sid)[0], ["v", "open", "exp"])
            fixes = r.pipeline(transaction=False)
            for sid, (_, score), (version, is_open, exp) in zip(
                sids, rows, (yield pipe), strict=True
            ):
                if version is None:  # no such session (yet): drop only an old intent
                    if score < now - self._grace_us:
                        ZSET_CAS(fixes, [EXPIRY], [sid, int(score), ""])
                    else:
                        offset += 1
                elif is_open != b"1":
                    ZSET_CAS(fixes, [EXPIRY], [sid, int(score), ""])
                elif int(exp) <= now:
                    due.append(sid)
                    offset += 1
                else:  # an earlier intent than the committed expiry
                    ZSET_CAS(fixes, [EXPIRY], [sid, int(score), int(exp)])
            yield fixes
            if len(rows) < limit:
                break
        return due[:limit]

    # outbox --------------------------------------------------------------------------
    async def claim_due_events(
        self, now: datetime, limit: int, lease_seconds: float
    ) -> list[OutboxEvent]:
        lease = now + timedelta(seconds=lease_seconds)
        return await self._rounds(partial(self._claim, now=now, lease=lease, limit=limit))

    def _claim(
        self, r: Client, *, now: datetime, lease: datetime, limit: int
    ) -> Rounds[list[OutboxEvent]]:
        claimed: list[OutboxEvent] = []
        for _ in range(3):  # a few rounds: entries that were not due move out of the way
            wanted = limit - len(claimed)
            [rows] = yield r.pipeline(transaction=False).zrangebyscore(
                OUTBOX_DUE, "-inf", _us(now), 0, wanted, withscores=True
            )
            sids = [_text(sid) for sid, _ in rows]
            pipe = r.pipeline(transaction=False)
            for sid in sids:
                EVENT_CLAIM(pipe, _session_keys(sid)[1:], [_us(now), _us(lease)])
            settles = r.pipeline(transaction=False)
            for sid, (_, score), result in zip(sids, rows, (yield pipe), strict=True):
                ready = _text(result[0]) if result else ""
                if len(result) == 3:
                    event = decode(OutboxEvent, result[2])
                    claimed.append(replace(event, state="in_flight", lease_until=lease))
                args = [sid, ready, int(score), _us(now), _wall_us(), self._grace_us]
                DUE_SETTLE(settles, [OUTBOX_DUE, OUTBOX_TOUCHED], args)
            yield settles
            if len(claimed) == limit or len(rows) < wanted:
                break
        return claimed

    async def save_event(self, event: OutboxEvent) -> None:
        def job(r: Client) -> Rounds[None]:
            sid, finished = event.session_id, event.state in FINISHED
            pipe = r.pipeline(transaction=False)
            if not finished:  # index first: a live event is always found
                _index_events(pipe, sid, event.state, [event.id])
            EVENT_SAVE(pipe, _session_keys(sid)[1:], [event.id, encode(event), _meta(event)])
            *_, result = yield pipe
            after = r.pipeline(transaction=False)
            if finished:
                _index_events(after, sid, event.state, [event.id])
            if result:  # the session's next event: due then (with nothing left, the
                # entry stays until a claim finds the session empty and settles it)
                after.zadd(OUTBOX_DUE, {sid: int(result[0])})
            yield after

        await self._rounds(job)

    async def load_event(self, event_id: str) -> OutboxEvent | None:
        return (await self._rounds(partial(_load_events, eids=[event_id])))[0][0]

    async def list_events(self, state: str | None, limit: int = 100) -> list[OutboxEvent]:
        if state is None:
            index = OUTBOX_ALL
        else:
            index = OUTBOX_SETS.get(state if state in FINISHED else "live", OUTBOX_LIVE)
        return await self._rounds(partial(self._scan, index=index, state=state, limit=limit))

    async def outbox_counts(self) -> dict[str, int]:
        def job(r: Client) -> Rounds[dict[str, int]]:
            pipe = r.pipeline(transaction=False)
            for state in FINISHED:
                pipe.zcard(OUTBOX_SETS[state])
            counts = dict(zip(FINISHED, map(int, (yield pipe)), strict=True))
            # Finished events still in the live index are not in those sets yet.
            for event in (yield from self._scan(r, index=OUTBOX_LIVE, state=None, limit=None)):
                counts[event.state] = counts.get(event.state, 0) + 1
            return {state: n for state, n in counts.items() if n}

        return await self._rounds(job)

    async def outbox_backlog(self) -> tuple[int, int]:
        """Two ZCARDs in one round trip. The live index may still hold a finished event
        for a moment (until a scan files it), which a gauge can bear."""

        def job(r: Client) -> Rounds[tuple[int, int]]:
            pipe = r.pipeline(transaction=False)
            live, dead = yield pipe.zcard(OUTBOX_LIVE).zcard(OUTBOX_SETS["dead"])
            return int(live), int(dead)

        return await self._rounds(job)

    def _scan(
        self, r: Client, *, index: str, state: str | None, limit: int | None
    ) -> Rounds[list[OutboxEvent]]:
        """The events of an index in `state` (any: None), oldest first. Entries of the
        live index are checked on the way: finished events are filed where they belong
        and old intents without an event dropped, once the paging is done."""
        found: list[OutboxEvent] = []
        fixes = r.pipeline(transaction=False)
        offset = 0
        while limit is None or len(found) < limit:
            [page] = yield r.pipeline(transaction=False).zrange(index, offset, offset + PAGE - 1)
            eids = [_text(e) for e in page]
            if not eids:
                break
            offset += len(eids)
            loaded = yield from _load_events(r, eids=eids)
            if index == OUTBOX_LIVE:
                self._repair(fixes, eids, loaded)
            found += [e for e, _ in loaded if e is not None and state in (None, e.state)]
        yield fixes
        return found[:limit]

    def _repair(
        self, fixes: Client, eids: list[str], loaded: list[tuple[OutboxEvent | None, float]]
    ) -> None:
        stale = _wall_us() - self._grace_us
        for eid, (event, touched) in zip(eids, loaded, strict=True):
            if event is not None and event.state in FINISHED:
                _index_events(fixes, event.session_id, event.state, [eid])
            elif event is None and touched < stale:
                fixes.hdel(OUTBOX_WHERE, eid)
                for key in (OUTBOX_ALL, *OUTBOX_SETS.values()):
                    fixes.zrem(key, eid)


# jobs shared by several operations -------------------------------------------------


def _one(r: Client, fill: Callable[[Client], Any]) -> Rounds[Any]:
    [reply] = yield fill(r.pipeline(transaction=False))
    return reply


def _load_scripts(r: Client) -> Rounds[None]:
    pipe = r.pipeline(transaction=False)
    for script in Script.registry:
        pipe.script_load(script.source)
    yield pipe


def _load_session(r: Client, session_id: str) -> Rounds[Session | None]:
    [doc] = yield r.pipeline(transaction=False).hget(_session_keys(session_id)[0], "doc")
    return None if doc is None else decode(Session, doc)


def _load_token(r: Client, token_id: str) -> Rounds[VaultToken | None]:
    [(doc, by)] = yield r.pipeline(transaction=False).hmget(_token_key(token_id), ["doc", "by"])
    if doc is None:
        return None
    return replace(decode(VaultToken, doc), consumed_by=_text(by) if by else None)


def _pxat(expires_at: float) -> int:
    return math.ceil(expires_at * 1000)


def _put_record(r: Client, record: IdempotencyRecord) -> Client:
    return r.set(_idempotency_key(record.scope), encode(record), pxat=_pxat(record.expires_at))


def _put_record_job(r: Client, record: IdempotencyRecord) -> Rounds[None]:
    yield _put_record(r.pipeline(transaction=False), record)


def _unhold(r: Client, holder: str, sell: bool) -> Rounds[None]:
    """Release (or sell) every unit the holder holds, then forget the holder."""
    held = _held_key(holder)
    [members] = yield r.pipeline(transaction=False).smembers(held)
    pipe = r.pipeline(transaction=False)
    for product_id in sorted(_text(p) for p in members):
        UNHOLD(pipe, [_stock_key(product_id)], [f"h:{holder}", int(sell)])
    yield pipe.delete(held).zrem(HOLDS, holder)


def _meta(event: OutboxEvent) -> str:
    """What the outbox scripts read: state, when due, lease end (µs, 0 = none)."""
    ready = _us(event.next_attempt_at) if event.next_attempt_at else 0
    lease = _us(event.lease_until) if event.lease_until else 0
    return f"{event.state} {ready} {lease}"


def _index_events(r: Any, sid: str, state: str, eids: list[str]) -> None:
    keys = [OUTBOX_ALL, *OUTBOX_SETS.values(), OUTBOX_WHERE, OUTBOX_SEQ, OUTBOX_DUE, OUTBOX_TOUCHED]
    OUTBOX_INDEX(r, keys, [sid, state, _wall_us(), *eids])


def _load_events(r: Client, eids: list[str]) -> Rounds[list[tuple[OutboxEvent | None, float]]]:
    """Each event with its delivery state, and its session's last index write (µs)."""
    [where] = yield r.pipeline(transaction=False).hmget(OUTBOX_WHERE, eids)
    sids = [None if s is None else _text(s) for s in where]
    pipe = r.pipeline(transaction=False)
    for eid, sid in zip(eids, sids, strict=True):
        _, _, docs, metas = _session_keys(sid or "")
        pipe.hget(docs, eid).hget(metas, eid).hget(OUTBOX_TOUCHED, sid or "")
    replies = yield pipe
    loaded: list[tuple[OutboxEvent | None, float]] = []
    for i in range(len(eids)):
        doc, meta, touched = replies[3 * i : 3 * i + 3]
        event = None
        if doc is not None and meta is not None:
            state, _, lease = _text(meta).split()
            lease_until = _at(int(lease)) if int(lease) else None
            event = replace(decode(OutboxEvent, doc), state=state, lease_until=lease_until)
        loaded.append((event, float(touched or 0)))
    return loaded
