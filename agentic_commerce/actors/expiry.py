"""The expiry sweeper: expires sessions whose actor is not live (passivated, or
from before a restart), using the store's durable expiry index."""

from __future__ import annotations

import structlog
import trio

from agentic_commerce.actors.clock import SystemClock
from agentic_commerce.actors.registry import ActorRegistry
from agentic_commerce.actors.runtime import ActorError
from agentic_commerce.actors.session import Expire
from agentic_commerce.store.base import Store, StoreUnavailable

log = structlog.get_logger("agentic_commerce.expiry")


async def sweep_once(store: Store, registry: ActorRegistry, clock: SystemClock) -> int:
    """Wake every due session's actor (activation expires it); returns how many."""
    due = await store.due_sessions(clock.now())
    woken = 0
    for session_id in due:
        try:
            registry.ref(session_id).tell(Expire())
            woken += 1
        except ActorError:
            log.warning("expiry_deferred", session_id=session_id)
    return woken


async def run_sweeper(
    store: Store, registry: ActorRegistry, clock: SystemClock, interval: float
) -> None:
    await registry.wait_ready()
    while True:
        try:
            await sweep_once(store, registry, clock)
        except StoreUnavailable:  # try again next round; crashing would spend restart intensity
            log.warning("expiry_sweep_deferred", reason="store unavailable")
        await trio.sleep(interval)
