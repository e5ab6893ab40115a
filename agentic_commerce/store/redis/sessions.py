"""Sessions and orders on Redis: a session's state, answer and events in one commit
script on its slot, with the cross-slot indexes (expiry, order pointer, outbox)
written as intents before it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from agentic_commerce.domain.model import Order, Session
from agentic_commerce.domain.state_machine import TERMINAL
from agentic_commerce.store.base import (
    Commit,
    StoreUnavailable,
    VersionConflict,
    partition_of,
)
from agentic_commerce.store.redis.batcher import Rounds
from agentic_commerce.store.redis.client import RedisBase
from agentic_commerce.store.redis.idempotency import put_record
from agentic_commerce.store.redis.keys import (
    EXPIRY,
    FRESH_COMMIT_BASE_US,
    OUTBOX_DUE,
    Client,
    at,
    idempotency_key,
    order_key,
    pxat,
    session_keys,
    text,
    us,
    wall_us,
)
from agentic_commerce.store.redis.outbox import index_events, meta
from agentic_commerce.store.redis.scripts import COMMIT, ZSET_CAS
from agentic_commerce.store.serialization import decode, encode


def _load_session(r: Client, session_id: str) -> Rounds[Session | None]:
    [doc] = yield r.pipeline(transaction=False).hget(session_keys(session_id)[0], "doc")
    return None if doc is None else decode(Session, doc)


class RedisSessions(RedisBase):
    async def load_session(self, session_id: str) -> Session | None:
        return await self._rounds(partial(_load_session, session_id=session_id))

    async def commit(self, commit: Commit) -> Session:
        stored = replace(commit.session, version=(commit.expected_version or 0) + 1)
        await self._rounds(partial(self._commit, commit=commit, stored=stored))
        return stored

    def _commit(self, r: Client, *, commit: Commit, stored: Session) -> Rounds[None]:
        """Three stages in one round: the cross-slot intents, the commit script, then
        the due mark of its events (one pipeline on one Redis; a stage at a time on a
        cluster, where the mark is only needed with events)."""
        sid = stored.id
        is_open = stored.status not in TERMINAL
        intents = r.pipeline(transaction=False)
        if is_open:
            intents.zadd(EXPIRY, {sid: us(stored.expires_at)}, lt=True)
        if stored.order is not None:
            intents.set(order_key(stored.order.id), sid)
        if commit.events:
            index_events(intents, sid, "pending", [e.id for e in commit.events])
        at = len(intents)  # the commit script's reply
        keys = list(session_keys(sid))
        record, apart = commit.idempotency, None
        if record is not None and partition_of(record.scope) == sid:
            keys.append(idempotency_key(record.scope))
        else:
            record, apart = None, record  # another slot: written once the commit is in
        args: list[Any] = [
            "" if commit.expected_version is None else commit.expected_version,
            stored.version,
            encode(stored),
            int(is_open),
            us(stored.expires_at),
            b"" if record is None else encode(record),
            0 if record is None else pxat(record.expires_at),
        ]
        for event in commit.events:
            args += [event.id, encode(event), meta(event)]
        truth = COMMIT(r.pipeline(transaction=False), keys, args)
        if self._wait_replicas:  # on the commit's connection, right after it
            self._wait_for_replicas(r, truth, session_keys(sid)[0])
        after = r.pipeline(transaction=False)
        if commit.events:
            # Due now, with a score no claim has read: one that ran between the intent
            # and the commit found nothing yet, and its settle (a compare-and-set on
            # the score it read) would otherwise put the delivery off by the grace.
            # (After a version conflict it only makes a claim look once in vain.)
            after.zadd(OUTBOX_DUE, {sid: wall_us() - FRESH_COMMIT_BASE_US})
        replies = yield intents, truth, after
        if not replies[at]:
            raise VersionConflict(sid)
        if self._wait_replicas and replies[at + 1] < self._wait_replicas:
            raise StoreUnavailable(f"the commit reached {replies[at + 1]} replica(s) in time")
        if apart is not None:
            yield put_record(r.pipeline(transaction=False), apart)

    async def load_order(self, order_id: str) -> Order | None:
        def job(r: Client) -> Rounds[Order | None]:
            [sid] = yield r.pipeline(transaction=False).get(order_key(order_id))
            session = None if sid is None else (yield from _load_session(r, text(sid)))
            order = None if session is None else session.order
            return order if order is not None and order.id == order_id else None

        return await self._rounds(job)

    async def latest_open_sessions(self, limit: int) -> list[tuple[str, datetime]]:
        """The expiry index from its latest end, each entry checked against its
        session (the index may still hold a closed session, or an intent)."""

        def job(r: Client) -> Rounds[list[tuple[str, datetime]]]:
            found: list[tuple[str, datetime]] = []
            offset = 0
            while len(found) < limit:
                [rows] = yield r.pipeline(transaction=False).zrange(
                    EXPIRY, offset, offset + limit - 1, desc=True, withscores=True
                )
                if not rows:
                    break
                offset += len(rows)
                pipe = r.pipeline(transaction=False)
                for sid, _ in rows:
                    pipe.hget(session_keys(text(sid))[0], "open")
                for (sid, score), is_open in zip(rows, (yield pipe), strict=True):
                    if is_open == b"1":
                        found.append((text(sid), at(int(score))))
            return found[:limit]

        return await self._rounds(job)

    async def due_sessions(self, now: datetime, limit: int = 100) -> list[str]:
        return await self._rounds(partial(self._due_sessions, now=us(now), limit=limit))

    def _due_sessions(self, r: Client, *, now: int, limit: int) -> Rounds[list[str]]:
        due: list[str] = []
        offset = 0
        while len(due) < limit:
            [rows] = yield r.pipeline(transaction=False).zrangebyscore(
                EXPIRY, "-inf", now, start=offset, num=limit, withscores=True
            )
            if not rows:
                break
            sids = [text(sid) for sid, _ in rows]
            pipe = r.pipeline(transaction=False)
            for sid in sids:
                pipe.hmget(session_keys(sid)[0], ["v", "open", "exp"])
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

    def _wait_for_replicas(self, r: Client, pipe: Client, key: str) -> None:
        """`WAIT` for the replicas of the node holding `key` (on a cluster, sent there)."""
        wait_ms = max(1, int(self._timeout * 500))
        if self._cluster:
            node = r.get_node_from_key(key)
            pipe.execute_command("WAIT", self._wait_replicas, wait_ms, target_nodes=node)
        else:
            pipe.execute_command("WAIT", self._wait_replicas, wait_ms)
