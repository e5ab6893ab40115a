"""The sandbox 3-D Secure provider's authentication sessions in memory."""

from __future__ import annotations

from agentic_commerce.domain.delegate_authentication import AuthenticationSession
from agentic_commerce.store.base import IdempotencyRecord
from agentic_commerce.store.memory.state import MemoryState


class MemoryAuthentications(MemoryState):
    async def put_authentication(
        self, session: AuthenticationSession, idempotency: IdempotencyRecord | None
    ) -> None:
        self._authentications[session.id] = session
        if idempotency is not None:
            self._remember(idempotency)

    async def load_authentication(self, session_id: str) -> AuthenticationSession | None:
        return self._authentications.get(session_id)
