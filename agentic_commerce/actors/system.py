"""The actor system of one process: its services, the session registry and the
root of the supervision tree.

    root (one_for_one)
    ├── services (one_for_one): inventory, payment, expiry sweeper   [permanent]
    └── sessions: the registry of virtual session actors              [transient children]
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta

import structlog

from agentic_commerce.actors.clock import SystemClock
from agentic_commerce.actors.expiry import run_sweeper
from agentic_commerce.actors.inventory import InventoryActor
from agentic_commerce.actors.payment import PaymentActor
from agentic_commerce.actors.registry import ActorRegistry
from agentic_commerce.actors.runtime import Actor, ActorError, ActorRef, Mailbox, run_actor
from agentic_commerce.actors.session import SessionActor, SessionDeps
from agentic_commerce.actors.supervision import ChildSpec, Restart, RestartHook, Supervisor
from agentic_commerce.actors.webhooks import Nudge, Receiver, WebhookDispatcher
from agentic_commerce.config.settings import Settings
from agentic_commerce.domain.catalog import Catalog
from agentic_commerce.payments.base import Processor
from agentic_commerce.payments.simulated import SimulatedProcessor
from agentic_commerce.payments.stripe_spt import StripeNotConfigured, StripeProcessor
from agentic_commerce.payments.vault import VaultProcessor
from agentic_commerce.store.base import Store

log = structlog.get_logger("agentic_commerce.system")
PAYMENT_ASK_MARGIN_SECONDS = 5.0  # the payment actor times out first and says so


def _permanent(factory: Callable[[], Actor], mailbox: Mailbox, kind: str) -> ChildSpec:
    """A permanent service actor: a fresh instance at each restart, on a mailbox
    (and so an address) that outlives restarts."""

    async def run() -> None:
        await run_actor(factory(), mailbox)

    return ChildSpec(kind, run, Restart.PERMANENT, kind)


def build_processors(settings: Settings) -> list[Processor]:
    """The simulated processor (development), and Stripe for `spt_` tokens: a
    processor that declines them clearly when no secret key is set."""
    processors: list[Processor] = [SimulatedProcessor()] if settings.simulated_payments else []
    if settings.stripe_secret_key:
        processors.append(StripeProcessor.from_settings(settings))
    else:
        processors.append(StripeNotConfigured())
    return processors


def webhook_receiver(settings: Settings) -> Receiver | None:
    """Where order events go; None (events stay in the outbox) until both the URL
    and the signing secret are configured."""
    if not settings.webhook_url or not settings.webhook_secret:
        return None
    return Receiver(
        url=settings.webhook_url,
        secret=settings.webhook_secret,
        version=settings.webhook_api_version,
        legacy_names=settings.webhook_legacy_names,
        schedule=settings.webhook_retry_schedule,
        timeout=settings.webhook_timeout_seconds,
        concurrency=settings.webhook_concurrency,
        poll_seconds=settings.webhook_poll_seconds,
    )


class ActorSystem:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        catalog: Catalog,
        clock: SystemClock | None = None,
        processors: list[Processor] | None = None,
        on_restart: RestartHook | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.clock = clock or SystemClock()
        if processors is None:
            processors = build_processors(settings)
            processors.append(VaultProcessor(store, self.clock))
        self.processors = processors
        inventory_box = Mailbox(settings.mailbox_size)
        payment_box = Mailbox(settings.mailbox_size)
        webhooks_box = Mailbox(settings.mailbox_size)
        self.inventory = ActorRef("inventory", inventory_box)
        self.payment = ActorRef("payment", payment_box)
        self.receiver = webhook_receiver(settings)
        self.webhooks = ActorRef("webhooks", webhooks_box) if self.receiver else None
        self.session_deps = SessionDeps(
            store=store,
            catalog=catalog,
            inventory=self.inventory,
            payment=self.payment,
            clock=self.clock,
            ttl=timedelta(seconds=settings.session_ttl_seconds),
            idle_seconds=settings.actor_idle_seconds,
            ask_timeout=settings.ask_timeout_seconds,
            payment_timeout=settings.payment_timeout_seconds + PAYMENT_ASK_MARGIN_SECONDS,
            order_url_template=settings.order_url_template,
            on_events=self.nudge_webhooks,
        )
        self.sessions = ActorRegistry(
            "session",
            lambda sid, registry: SessionActor(sid, registry, self.session_deps),
            mailbox_size=settings.mailbox_size,
            on_restart=on_restart,
        )

        async def sweeper() -> None:
            await run_sweeper(store, self.sessions, self.clock, settings.expiry_sweep_seconds)

        services = [
            _permanent(lambda: InventoryActor(store), inventory_box, "inventory"),
            _permanent(
                lambda: PaymentActor(processors, settings.payment_timeout_seconds),
                payment_box,
                "payment",
            ),
            ChildSpec("expiry_sweeper", sweeper, Restart.PERMANENT, "expiry"),
        ]
        receiver = self.receiver
        if receiver is not None:
            services.append(
                _permanent(
                    lambda: WebhookDispatcher(store, receiver, self.clock),
                    webhooks_box,
                    "webhooks",
                )
            )
        self.services = Supervisor("services", services, on_restart=on_restart)
        self.root = Supervisor(
            "root",
            [
                ChildSpec("services", self.services.run, Restart.PERMANENT, "supervisor"),
                ChildSpec("sessions", self.sessions.run, Restart.PERMANENT, "supervisor"),
            ],
            on_restart=on_restart,
        )

    def nudge_webhooks(self) -> None:
        """Deliver new events now; if the dispatcher is busy, its next poll will."""
        if self.webhooks is not None:
            with contextlib.suppress(ActorError):
                self.webhooks.tell(Nudge())

    async def run(self) -> None:
        """Seed stock, then run the tree; returns only if the root gives up (it raises)."""
        if not self.store.durable:
            log.warning("store_not_durable", detail="memory store: data is lost at exit")
        await self.store.seed_stock({p.id: p.stock for p in self.catalog})
        await self.root.run()

    async def close(self) -> None:
        """Release the processors' connections; call once the tree has stopped
        (the payment actor shares these processors across its restarts)."""
        for processor in self.processors:
            try:
                await processor.close()
            except Exception:
                log.exception("processor_close_failed", processor=processor.name)
