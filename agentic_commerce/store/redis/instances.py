"""Several instances on Redis: leases beside their session (one slot), registrations
with their instance URLs on the `{instances}` slot, named locks."""

from __future__ import annotations

from collections.abc import Sequence

from agentic_commerce.domain.model import Session
from agentic_commerce.store.base import (
    Joined,
    Member,
)
from agentic_commerce.store.redis.batcher import Rounds
from agentic_commerce.store.redis.client import RedisBase
from agentic_commerce.store.redis.keys import (
    MEMBERS_KEY,
    Client,
    instance_key,
    lease_key,
    ms,
    session_keys,
    text,
)
from agentic_commerce.store.redis.scripts import (
    INSTANCE_JOIN,
    LEASE_ACQUIRE,
    LEASE_CAS,
    LEASE_OR_LOAD,
)
from agentic_commerce.store.serialization import decode


class RedisInstances(RedisBase):
    async def acquire_lease(self, session_id: str, instance_id: str, ttl: float) -> str | None:
        args = [instance_id, ms(ttl)]
        holder = await self._one(lambda p: LEASE_ACQUIRE(p, [lease_key(session_id)], args))
        text = holder.decode() if isinstance(holder, bytes) else str(holder)
        return text or None

    async def lease_or_load(
        self, session_id: str, instance_id: str, ttl: float
    ) -> tuple[bool, Session | None]:
        keys = [lease_key(session_id), session_keys(session_id)[0]]
        args = [instance_id, ms(ttl)]
        reply = await self._one(lambda p: LEASE_OR_LOAD(p, keys, args))
        if not reply:
            return True, None
        return False, None if reply[0] is None else decode(Session, reply[0])

    async def take_over_lease(
        self, session_id: str, instance_id: str, previous: str, ttl: float
    ) -> bool:
        args = [previous, instance_id, ms(ttl)]
        return bool(await self._one(lambda p: LEASE_CAS(p, [lease_key(session_id)], args)))

    async def renew_leases(
        self, instance_id: str, session_ids: Sequence[str], ttl: float
    ) -> list[str]:
        def job(r: Client) -> Rounds[list[str]]:
            pipe = r.pipeline(transaction=False)
            for session_id in session_ids:
                LEASE_CAS(pipe, [lease_key(session_id)], [instance_id, instance_id, ms(ttl)])
            kept = yield pipe
            return [sid for sid, ok in zip(session_ids, kept, strict=True) if not ok]

        return await self._rounds(job) if session_ids else []

    async def release_lease(self, session_id: str, instance_id: str) -> None:
        args = [instance_id, "", "0"]
        await self._one(lambda p: LEASE_CAS(p, [lease_key(session_id)], args))

    async def join(self, member: Member, ttl: float) -> Joined | str:
        keys = [MEMBERS_KEY, instance_key(member.instance_id)]
        args = [member.name, ms(ttl), member.url or ""]
        joined = await self._one(lambda p: INSTANCE_JOIN(p, keys, args))
        if isinstance(joined, bytes | str):
            return text(joined)
        return Joined.NEW if joined == 1 else Joined.RENEWED

    async def leave(self, member: Member) -> None:
        def job(r: Client) -> Rounds[None]:
            pipe = r.pipeline(transaction=False)
            pipe.zrem(MEMBERS_KEY, member.name)
            pipe.delete(instance_key(member.instance_id))  # (a cluster's does not chain)
            yield pipe

        await self._rounds(job)

    async def instance_url(self, instance_id: str) -> str | None:
        raw = await self._one(lambda p: p.get(instance_key(instance_id)))
        return None if raw is None else bytes(raw).decode()

    async def instance_urls(self) -> dict[str, str]:
        """Members with a URL key: the key lapses with the registration (`INSTANCE_JOIN`),
        so one that is there belongs to a live instance."""

        def job(r: Client) -> Rounds[dict[str, str]]:
            [names] = yield r.pipeline(transaction=False).zrange(MEMBERS_KEY, 0, -1)
            ids = [text(n).partition(":")[2] for n in names if text(n).startswith("shared:")]
            if not ids:
                return {}
            pipe = r.pipeline(transaction=False)  # GETs: a cluster pipeline has no MGET
            for instance_id in ids:
                pipe.get(instance_key(instance_id))
            urls = yield pipe
            return {i: text(url) for i, url in zip(ids, urls, strict=True) if url is not None}

        return await self._rounds(job)

    async def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        args = [owner, ms(ttl)]
        holder = await self._one(lambda p: LEASE_ACQUIRE(p, [f"acs:lock:{name}"], args))
        return not holder
