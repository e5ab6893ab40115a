"""Samples the gauges that describe state rather than events (live actors, mailbox
depths, the outbox, stock), so a scrape sees fresh values in every worker, and
records the operators' history of this process's metrics (`history`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import trio

from agentic_commerce import metrics
from agentic_commerce.actors.history import current_totals
from agentic_commerce.store.base import StoreError

if TYPE_CHECKING:
    from agentic_commerce.actors.system import ActorSystem

INTERVAL_SECONDS = 2.0


async def webhook_lag(system: ActorSystem) -> float:
    """How long the oldest event waiting for delivery has waited (0: none waits)."""
    oldest = await system.store.list_events("pending", limit=1)
    if not oldest:
        return 0.0
    return max(0.0, (system.clock.now() - oldest[0].created_at).total_seconds())


async def sample_once(system: ActorSystem) -> None:
    live = system.sessions.live()
    metrics.SESSION_ACTORS.set(len(live))
    metrics.MAILBOX_DEPTH.labels("session").set(sum(a.ref.mailbox.depth for a in live.values()))
    for kind, slot in system.slots.items():
        metrics.MAILBOX_DEPTH.labels(kind).set(slot.mailbox.depth)
    lag: float | None = None
    try:
        undelivered, dead = await system.store.outbox_backlog()  # not a scan: runs often
        metrics.OUTBOX.labels("pending").set(undelivered)
        metrics.OUTBOX.labels("dead").set(dead)
        lag = await webhook_lag(system) if undelivered else 0.0
        for product in system.catalog:
            level = await system.store.stock(product.id)
            metrics.INVENTORY.labels(product.id, "reserved").set(level.reserved)
            metrics.INVENTORY.labels(product.id, "available").set(level.available)
    except StoreError:
        pass  # the store is down: /ready says so; keep the last values
    system.history.record(time.time(), trio.current_time(), current_totals(), lag)


async def run_sampler(system: ActorSystem) -> None:
    while True:
        await sample_once(system)
        await trio.sleep(INTERVAL_SECONDS)
