"""The Lua scripts of the Redis store: each one atomic unit on one slot, called by
SHA (in pipelines too); `NOSCRIPT` reloads them all (`client.RedisBase`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any


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

CART_SAVE = Script("""
-- KEYS: cart, idempotency record (or the cart again when none)
-- ARGV: expected version ('' = new), version, doc ('' = delete), PXAT ms, record ('' = none),
--       record PXAT ms
if (redis.call('HGET', KEYS[1], 'v') or '') ~= ARGV[1] then return 0 end
if ARGV[3] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'v', ARGV[2], 'doc', ARGV[3])
  redis.call('PEXPIREAT', KEYS[1], ARGV[4])
end
if ARGV[5] ~= '' then redis.call('SET', KEYS[2], ARGV[5], 'PXAT', ARGV[6]) end
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

FEED_PUSH_START = Script("""
-- KEYS: feed push state. ARGV: remote feed id. A new feed: nothing pushed to it yet.
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'feed', ARGV[1])
return 1
""")

FEED_PUSH_RECORD = Script("""
-- KEYS: feed push state. ARGV: remote feed id, then (field, digest) pairs. Recorded only
-- while that feed is still the target's (not for a feed replaced since the push).
if redis.call('HGET', KEYS[1], 'feed') ~= ARGV[1] then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
""")
