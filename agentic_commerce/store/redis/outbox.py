"""The outbox on Redis: a session's events on its slot, the cross-slot indexes of
events (by state, due time, where) on the `{outbox}` slot, written intents first
and checked by their readers."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from agentic_commerce.store.base import (
    OutboxEvent,
)
from agentic_commerce.store.redis.batcher import Rounds
from agentic_commerce.store.redis.client import RedisBase
from agentic_commerce.store.redis.keys import (
    FINISHED,
    OUTBOX_ALL,
    OUTBOX_DUE,
    OUTBOX_LIVE,
    OUTBOX_SEQ,
    OUTBOX_SETS,
    OUTBOX_TOUCHED,
    OUTBOX_WHERE,
    Client,
    at,
    session_keys,
    text,
    us,
    wall_us,
)
from agentic_commerce.store.redis.scripts import DUE_SETTLE, EVENT_CLAIM, EVENT_SAVE, OUTBOX_INDEX
from agentic_commerce.store.serialization import decode, encode

PAGE = 200


def meta(event: OutboxEvent) -> str:
    """What the outbox scripts read: state, when due, lease end (µs, 0 = none)."""
    ready = us(event.next_attempt_at) if event.next_attempt_at else 0
    lease = us(event.lease_until) if event.lease_until else 0
    return f"{event.state} {ready} {lease}"


def index_events(r: Any, sid: str, state: str, eids: list[str]) -> None:
    keys = [OUTBOX_ALL, *OUTBOX_SETS.values(), OUTBOX_WHERE, OUTBOX_SEQ, OUTBOX_DUE, OUTBOX_TOUCHED]
    OUTBOX_INDEX(r, keys, [sid, state, wall_us(), *eids])


def _load_events(r: Client, eids: list[str]) -> Rounds[list[tuple[OutboxEvent | None, float]]]:
    """Each event with its delivery state, and its session's last index write (µs)."""
    [where] = yield r.pipeline(transaction=False).hmget(OUTBOX_WHERE, eids)
    sids = [None if s is None else text(s) for s in where]
    pipe = r.pipeline(transaction=False)
    for eid, sid in zip(eids, sids, strict=True):
        _, _, docs, metas = session_keys(sid or "")
        pipe.hget(docs, eid).hget(metas, eid).hget(OUTBOX_TOUCHED, sid or "")
    replies = yield pipe
    loaded: list[tuple[OutboxEvent | None, float]] = []
    for i in range(len(eids)):
        doc, meta, touched = replies[3 * i : 3 * i + 3]
        event = None
        if doc is not None and meta is not None:
            state, _, lease = text(meta).split()
            lease_until = at(int(lease)) if int(lease) else None
            event = replace(decode(OutboxEvent, doc), state=state, lease_until=lease_until)
        loaded.append((event, float(touched or 0)))
    return loaded


class RedisOutbox(RedisBase):
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
                OUTBOX_DUE, "-inf", us(now), 0, wanted, withscores=True
            )
            sids = [text(sid) for sid, _ in rows]
            pipe = r.pipeline(transaction=False)
            for sid in sids:
                EVENT_CLAIM(pipe, session_keys(sid)[1:], [us(now), us(lease)])
            settles = r.pipeline(transaction=False)
            for sid, (_, score), result in zip(sids, rows, (yield pipe), strict=True):
                ready = text(result[0]) if result else ""
                if len(result) == 3:
                    event = decode(OutboxEvent, result[2])
                    claimed.append(replace(event, state="in_flight", lease_until=lease))
                args = [sid, ready, int(score), us(now), wall_us(), self._grace_us]
                DUE_SETTLE(settles, [OUTBOX_DUE, OUTBOX_TOUCHED], args)
            yield settles
            if len(claimed) == limit or len(rows) < wanted:
                break
        return claimed

    async def save_event(self, event: OutboxEvent) -> None:
        def job(r: Client) -> Rounds[None]:
            sid, finished = event.session_id, event.state in FINISHED
            intents = r.pipeline(transaction=False)
            if not finished:  # index first: a live event is always found
                index_events(intents, sid, event.state, [event.id])
            saved = r.pipeline(transaction=False)
            EVENT_SAVE(saved, session_keys(sid)[1:], [event.id, encode(event), meta(event)])
            *_, result = yield intents, saved
            after = r.pipeline(transaction=False)
            if finished:
                index_events(after, sid, event.state, [event.id])
            if result:  # the session's next event: due then (with nothing left, the
                # entry stays until a claim finds the session empty and settles it)
                after.zadd(OUTBOX_DUE, {sid: int(result[0])})
            yield after

        await self._rounds(job)

    async def load_event(self, event_id: str) -> OutboxEvent | None:
        return (await self._rounds(partial(_load_events, eids=[event_id])))[0][0]

    async def list_events(
        self, state: str | None, limit: int = 100, newest_first: bool = False
    ) -> list[OutboxEvent]:
        if state is None:
            index = OUTBOX_ALL
        else:
            index = OUTBOX_SETS.get(state if state in FINISHED else "live", OUTBOX_LIVE)
        scan = partial(self._scan, index=index, state=state, limit=limit, desc=newest_first)
        return await self._rounds(scan)

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
        self, r: Client, *, index: str, state: str | None, limit: int | None, desc: bool = False
    ) -> Rounds[list[OutboxEvent]]:
        """The events of an index in `state` (any: None), oldest first (`desc`: newest
        first). Entries of the live index are checked on the way: finished events are
        filed where they belong and old intents without an event dropped, once the
        paging is done."""
        found: list[OutboxEvent] = []
        fixes = r.pipeline(transaction=False)
        offset = 0
        while limit is None or len(found) < limit:
            [page] = yield r.pipeline(transaction=False).zrange(
                index, offset, offset + PAGE - 1, desc=desc
            )
            eids = [text(e) for e in page]
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
        stale = wall_us() - self._grace_us
        for eid, (event, touched) in zip(eids, loaded, strict=True):
            if event is not None and event.state in FINISHED:
                index_events(fixes, event.session_id, event.state, [eid])
            elif event is None and touched < stale:
                fixes.hdel(OUTBOX_WHERE, eid)
                for key in (OUTBOX_ALL, *OUTBOX_SETS.values()):
                    fixes.zrem(key, eid)
