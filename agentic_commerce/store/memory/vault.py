"""The sandbox vault's tokens in memory."""

from __future__ import annotations

from dataclasses import replace

from agentic_commerce.domain.vault import Refusal, TokenUse, VaultToken, refusal
from agentic_commerce.store.base import IdempotencyRecord
from agentic_commerce.store.memory.state import MemoryState


class MemoryVault(MemoryState):
    async def put_vault_token(
        self, token: VaultToken, idempotency: IdempotencyRecord | None
    ) -> None:
        self._vault[token.id] = token
        if idempotency is not None:
            self._remember(idempotency)

    async def load_vault_token(self, token_id: str) -> VaultToken | None:
        return self._vault.get(token_id)

    async def consume_vault_token(self, token_id: str, use: TokenUse) -> Refusal | None:
        token = self._vault.get(token_id)
        reason = refusal(token, use)
        if reason is None and token is not None:
            self._vault[token_id] = replace(token, consumed_by=use.session_id)
        return reason
