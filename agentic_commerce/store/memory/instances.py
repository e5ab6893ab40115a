"""A single process's answers to the questions of several instances: it owns every
session, meets nobody and holds every lock."""

from __future__ import annotations

from collections.abc import Sequence

from agentic_commerce.domain.model import Session
from agentic_commerce.store.base import Joined, Member


class LoneInstance:
    """The instance capability of a store that only one process uses."""

    async def acquire_lease(self, session_id: str, instance_id: str, ttl: float) -> str | None:
        return None

    async def lease_or_load(
        self, session_id: str, instance_id: str, ttl: float
    ) -> tuple[bool, Session | None]:
        return True, None

    async def take_over_lease(
        self, session_id: str, instance_id: str, previous: str, ttl: float
    ) -> bool:
        return True

    async def renew_leases(
        self, instance_id: str, session_ids: Sequence[str], ttl: float
    ) -> list[str]:
        return []

    async def release_lease(self, session_id: str, instance_id: str) -> None:
        return None

    async def join(self, member: Member, ttl: float) -> Joined | str:
        return Joined.RENEWED

    async def leave(self, member: Member) -> None:
        return None

    async def instance_url(self, instance_id: str) -> str | None:
        return None

    async def instance_urls(self) -> dict[str, str]:
        return {}

    async def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        return True
