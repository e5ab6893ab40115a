"""The sandbox vault's tokens on Redis: one hash per token; only `consumed_by` ever
changes, by a script, so the refusal rules stay in Python."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from agentic_commerce.domain.vault import Refusal, TokenUse, VaultToken, refusal
from agentic_commerce.store.base import (
    IdempotencyRecord,
)
from agentic_commerce.store.redis.batcher import Rounds
from agentic_commerce.store.redis.client import RedisBase
from agentic_commerce.store.redis.idempotency import then_answer
from agentic_commerce.store.redis.keys import Client, text, token_key
from agentic_commerce.store.redis.scripts import TOKEN_USE
from agentic_commerce.store.serialization import decode, encode


def _load_token(r: Client, token_id: str) -> Rounds[VaultToken | None]:
    [(doc, by)] = yield r.pipeline(transaction=False).hmget(token_key(token_id), ["doc", "by"])
    if doc is None:
        return None
    return replace(decode(VaultToken, doc), consumed_by=text(by) if by else None)


class RedisVault(RedisBase):
    async def put_vault_token(
        self, token: VaultToken, idempotency: IdempotencyRecord | None
    ) -> None:
        def job(r: Client) -> Rounds[None]:
            saved = r.pipeline(transaction=False).hset(
                token_key(token.id), mapping={"doc": encode(token), "by": token.consumed_by or ""}
            )
            yield from then_answer(r, saved, idempotency)

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
                r.pipeline(transaction=False), [token_key(token_id)], [use.session_id]
            )
            return refusal(replace(token, consumed_by=text(used_by)), use) if used_by else None

        return await self._rounds(job)
