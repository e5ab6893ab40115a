"""The sandbox 3-D Secure provider's authentication sessions on Redis: one key per
session (hash-tagged with its id), written whole with the answer that made it."""

from __future__ import annotations

from agentic_commerce.domain.delegate_authentication import AuthenticationSession
from agentic_commerce.store.base import IdempotencyRecord
from agentic_commerce.store.redis.batcher import Rounds
from agentic_commerce.store.redis.client import RedisBase
from agentic_commerce.store.redis.idempotency import then_answer
from agentic_commerce.store.redis.keys import Client, authentication_key
from agentic_commerce.store.serialization import decode, encode


class RedisAuthentications(RedisBase):
    async def put_authentication(
        self, session: AuthenticationSession, idempotency: IdempotencyRecord | None
    ) -> None:
        def job(r: Client) -> Rounds[None]:
            saved = r.pipeline(transaction=False).set(
                authentication_key(session.id), encode(session)
            )
            yield from then_answer(r, saved, idempotency)

        await self._rounds(job)

    async def load_authentication(self, session_id: str) -> AuthenticationSession | None:
        raw = await self._one(lambda p: p.get(authentication_key(session_id)))
        return None if raw is None else decode(AuthenticationSession, raw)
