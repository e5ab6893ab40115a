"""Samples the gauges that describe state rather than events (live actors, mailbox
depths, the outbox, stock), so a scrape sees fresh values in every worker."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from agentic_commerce import metrics
from agentic_commerce.store.base import StoreError

if TYPE_CHECKING:
    from agentic_commerce.actors.system import ActorSystem

INTERVAL_SECONDS = 2.0


async def sample_once(system: ActorSystem) -> None:
    live = system.sessions.live()
    metrics.SESSION_ACTORS.set(len(live))
    metrics.MAILBOX_DEPTH.labels("session").set(sum(a.ref.mailbox.depth for a in live.values()))
    for kind, slot in system.slots.items():
        metrics.MAILBOX_DEPTH.labels(kind).set(slot.mailbox.depth)
    try:
        undelivered, dead = await system.store.outbox_backlog()  # not a scan: runs often
        metrics.OUTBOX.labels("pending").set(undelivered)
        metrics.OUTBOX.labels("dead").set(dead)
        for product in system.catalog:
            level = await system.store.stock(product.id)
            metrics.INVENTORY.labels(product.id, "reserved").set(level.reserved)
            metrics.INVENTORY.labels(product.id, "available").set(level.available)
    except StoreError:
        pass  # the store is down: /ready says so; keep the last values


async def run_sampler(system: ActorSystem) -> None:
    while True:
        await sample_once(system)
        await trio.sleep(INTERVAL_SECONDS)
