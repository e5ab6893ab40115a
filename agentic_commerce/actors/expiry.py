"""The expiry sweeper: expires sessions whose actor is not live (passivated, or
from before a restart), using the store's durable expiry index, and settles stock
holds that a dead process left behind."""

from __future__ import annotations

from datetime import timedelta

import structlog
import trio

from agentic_commerce.actors.clock import SystemClock
from agentic_commerce.actors.ownership import Ownership
from agentic_commerce.actors.registry import ActorRegistry
from agentic_commerce.actors.runtime import ActorError
from agentic_commerce.actors.session import Expire
from agentic_commerce.store.base import Store, StoreUnavailable

log = structlog.get_logger("agentic_commerce.expiry")
# A hold older than this whose session is not open was left by a process that died
# between holding and committing (or between an order and the sale of its units).
ORPHAN_HOLD_GRACE_SECONDS = 60.0


async def sweep_once(
    store: Store, registry: ActorRegistry, clock: SystemClock, ownership: Ownership
) -> int:
    """Wake every due session's actor (activation expires it); returns how many.

    Sessions whose actor runs on another instance are left to that actor's own
    timer; the sweep itself runs on one instance at a time (a lock in the store).
    """
    due = await store.due_sessions(clock.now())
    woken = 0
    for session_id in due:
        if await ownership.locate(session_id) is not None:
            continue
        try:
            registry.ref(session_id).tell(Expire())
            woken += 1
        except ActorError:
            log.warning("expiry_deferred", session_id=session_id)
    return woken


async def run_sweeper(
    store: Store,
    registry: ActorRegistry,
    clock: SystemClock,
    ownership: Ownership,
    interval: float,
) -> None:
    await registry.wait_ready()
    while True:
        try:
            if await ownership.may_run("expiry-sweep", 2 * interval):
                await sweep_once(store, registry, clock, ownership)
                grace = timedelta(seconds=ORPHAN_HOLD_GRACE_SECONDS)
                if settled := await store.release_orphan_holds(clock.now() - grace):
                    log.warning("orphan_holds_settled", holders=settled)
        except StoreUnavailable:  # try again next round; crashing would spend restart intensity
            log.warning("expiry_sweep_deferred", reason="store unavailable")
        await trio.sleep(interval)
