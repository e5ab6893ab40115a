"""Revoked credentials in memory (one process: every instance there is)."""

from __future__ import annotations

import time

from agentic_commerce.store.memory.state import MemoryState


class MemoryRevocations(MemoryState):
    async def revoke(self, credential_id: str, until: float) -> None:
        now = time.time()
        for stale in [c for c, at in self._revoked.items() if at <= now]:
            del self._revoked[stale]  # bounded by the credentials still alive
        if until > now:
            self._revoked[credential_id] = until

    async def revoked(self, credential_id: str) -> bool:
        return self._revoked.get(credential_id, 0.0) > time.time()
