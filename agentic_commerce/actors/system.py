"""The actor system of one process: its services, the session registry and the
root of the supervision tree.

    root (one_for_one)
    ├── services (one_for_one): inventory, payment, expiry sweeper,  [permanent]
    │   rate-limit settler, lease and claim keepers, metrics sampler,
    │   feed publisher (with FEED_PUSH_URL)
    ├── sessions: the registry of virtual session actors              [transient children]
    └── carts: the registry of virtual cart actors                    [transient children]
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

import structlog
import trio

from agentic_commerce import metrics
from agentic_commerce.actors.cart import CartActor, CartDeps
from agentic_commerce.actors.claims import Claims
from agentic_commerce.actors.clock import SystemClock
from agentic_commerce.actors.expiry import run_sweeper
from agentic_commerce.actors.feed_publisher import FeedPublisher, platform_of
from agentic_commerce.actors.history import MetricsHistory
from agentic_commerce.actors.inventory import InventoryActor
from agentic_commerce.actors.ownership import Ownership
from agentic_commerce.actors.payment import PaymentActor
from agentic_commerce.actors.rate_limits import RateLimits
from agentic_commerce.actors.registry import ActorRegistry
from agentic_commerce.actors.runtime import (
    Actor,
    ActorError,
    ActorHandle,
    ActorRef,
    Mailbox,
    run_actor,
)
from agentic_commerce.actors.sampler import INTERVAL_SECONDS, run_sampler
from agentic_commerce.actors.session import SessionActor, SessionDeps
from agentic_commerce.actors.supervision import (
    ChildSpec,
    Restart,
    RestartHook,
    RestartIntensity,
    Supervisor,
)
from agentic_commerce.actors.webhooks import Nudge, Receiver, WebhookDispatcher
from agentic_commerce.config.settings import Settings
from agentic_commerce.domain.catalog import Catalog
from agentic_commerce.payments.base import Processor
from agentic_commerce.payments.simulated import SimulatedProcessor
from agentic_commerce.payments.stripe_unconfigured import StripeNotConfigured
from agentic_commerce.payments.vault import VaultProcessor
from agentic_commerce.protocol.base import Storefront
from agentic_commerce.protocol.carts import CartCodec
from agentic_commerce.protocol.versions import Versions
from agentic_commerce.store.base import Store, StoreUnavailable

log = structlog.get_logger("agentic_commerce.system")
PAYMENT_ASK_MARGIN_SECONDS = 5.0
SEED_RETRY_SECONDS = 1.0  # the payment actor times out first and says so
TREE_ACTORS_SHOWN = 100  # live virtual actors listed per registry in the tree


@dataclass
class ServiceSlot:
    """A permanent service actor: a fresh instance at each restart, on a mailbox
    (and so an address) that outlives restarts; operators can see and kill it."""

    kind: str
    factory: Callable[[], Actor]
    mailbox: Mailbox
    handle: ActorHandle = field(default_factory=ActorHandle)
    actor: Actor | None = None
    started_at: float = 0.0
    incarnations: int = 0

    async def run(self) -> None:
        self.handle = ActorHandle()
        self.actor = self.factory()
        self.started_at = trio.current_time()
        self.incarnations += 1
        await run_actor(self.actor, self.mailbox, self.handle)

    def spec(self) -> ChildSpec:
        return ChildSpec(self.kind, self.run, Restart.PERMANENT, self.kind)


@dataclass(frozen=True, slots=True)
class ActorInfo:
    """What operators see of one live actor."""

    kind: str
    id: str
    status: str  # busy | idle
    mailbox_depth: int
    restarts: int
    age_seconds: float
    idle_seconds: float
    session_status: str | None = None


def _info(
    kind: str, actor_id: str, actor: Actor | None, depth: int, restarts: int, started_at: float
) -> ActorInfo:
    now = trio.current_time()
    snapshot = getattr(actor, "snapshot", None)
    session = getattr(snapshot, "session", None)
    return ActorInfo(
        kind=kind,
        id=actor_id,
        status="busy" if actor is not None and actor.busy else "idle",
        mailbox_depth=depth,
        restarts=restarts,
        age_seconds=round(now - started_at, 3),
        idle_seconds=round(now - actor.last_active, 3) if actor is not None else 0.0,
        session_status=session.status.value if session is not None else None,
    )


def _intensity(intensity: RestartIntensity) -> dict[str, Any]:
    return {
        "max_restarts": intensity.max_restarts,
        "period_seconds": intensity.period,
        "recent_restarts": intensity.recent(),
    }


def _supervisor_node(supervisor: Supervisor) -> dict[str, Any]:
    return {
        "name": supervisor.name,
        "strategy": "one_for_one",
        "restarts": supervisor.restarts,
        "intensity": _intensity(supervisor.intensity),
    }


def _registry_actors(registry: ActorRegistry) -> list[ActorInfo]:
    return [
        _info(
            registry.kind,
            actor_id,
            activation.actor,
            activation.ref.mailbox.depth,
            activation.restarts,
            activation.started_at,
        )
        for actor_id, activation in registry.live().items()
    ]


def _registry_node(name: str, registry: ActorRegistry) -> dict[str, Any]:
    """A registry of virtual actors: transient children that come and go."""
    live = _registry_actors(registry)
    return {
        "name": name,
        "strategy": "simple_one_for_one (virtual actors)",
        "restart": "transient",
        "live": len(live),
        "subtree_restarts": registry.subtree_restarts,
        "intensity": _intensity(registry.intensity),
        "children": [
            {**dataclasses.asdict(info), "killable": True} for info in live[:TREE_ACTORS_SHOWN]
        ],
    }


def build_processors(settings: Settings) -> list[Processor]:
    """The simulated processor (development), and Stripe for `spt_` tokens: a
    processor that declines them clearly when no secret key is set."""
    processors: list[Processor] = [SimulatedProcessor()] if settings.simulated_payments else []
    if settings.stripe_secret_key:
        from agentic_commerce.payments.stripe_spt import StripeProcessor  # only when used

        processors.append(StripeProcessor.from_settings(settings))
    else:
        processors.append(StripeNotConfigured())
    return processors


def storefront_of(settings: Settings) -> Storefront:
    """The merchant facts responses show, from the settings."""
    return Storefront(
        shop_url=settings.shop_url,
        psp_accounts=settings.psp_account,
        environment="production" if settings.production else "sandbox",
        three_ds_acquirer=(
            ("acquirer_bin", settings.three_ds_acquirer_bin),
            ("acquirer_country", settings.three_ds_acquirer_country),
            ("acquirer_merchant_id", settings.three_ds_acquirer_merchant_id),
            ("merchant_name", settings.three_ds_merchant_name),
        ),
        three_ds_directory_server=settings.three_ds_directory_server,
        max_line_items=settings.max_line_items,
        marketing_consent_options=settings.marketing_consent_options,
    )


def count_restart(kind: str, actor_id: str) -> None:
    metrics.RESTARTS.labels(kind).inc()


def chained(*hooks: RestartHook) -> RestartHook:
    def hook(kind: str, actor_id: str) -> None:
        for each in hooks:
            each(kind, actor_id)

    return hook


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
        on_restart = count_restart if on_restart is None else chained(count_restart, on_restart)
        self.settings = settings
        self.running = False
        self.draining = False  # set at shutdown: /ready says no while requests finish
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
        self.slots: dict[str, ServiceSlot] = {}
        self.inventory = ActorRef("inventory", inventory_box)
        self.payment = ActorRef("payment", payment_box)
        self.receiver = webhook_receiver(settings)
        self.webhooks = ActorRef("webhooks", webhooks_box) if self.receiver else None
        self.storefront = storefront_of(settings)
        self.history = MetricsHistory(INTERVAL_SECONDS)  # the operators' charts
        self.versions = Versions(self.storefront)  # responses and idempotent answers
        self.session_deps = SessionDeps(
            store=store,
            versions=self.versions,
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
        self.cart_codec = CartCodec.newest(self.versions, settings.cart_continue_url_template)
        self.cart_deps = CartDeps(
            store=store,
            catalog=catalog,
            clock=self.clock,
            ttl=timedelta(seconds=settings.session_ttl_seconds),
            idle_seconds=settings.actor_idle_seconds,
            render=self.cart_codec.render,
        )
        self.carts = ActorRegistry(
            "cart",
            lambda cart_id, registry: CartActor(cart_id, registry, self.cart_deps),
            mailbox_size=settings.mailbox_size,
            on_restart=on_restart,
        )

        self.claims = Claims(store, settings.lease_ttl_seconds)
        self.rate_limits = RateLimits(store, self.clock, settings.rate_limit_settle_seconds)
        clustered = settings.uses_redis and settings.instance_url is not None
        self.ownership = Ownership(
            store,
            self.sessions,
            settings.instance_url if clustered else None,
            settings.lease_ttl_seconds,
        )

        async def sweeper() -> None:
            await run_sweeper(
                store, self.sessions, self.clock, self.ownership, settings.expiry_sweep_seconds
            )

        self._slot("inventory", lambda: InventoryActor(store), inventory_box)
        self._slot(
            "payment",
            lambda: PaymentActor(processors, settings.payment_timeout_seconds),
            payment_box,
        )
        receiver = self.receiver
        if receiver is not None:
            self._slot(
                "webhooks", lambda: WebhookDispatcher(store, receiver, self.clock), webhooks_box
            )
        services = [slot.spec() for slot in self.slots.values()]
        services.append(ChildSpec("expiry_sweeper", sweeper, Restart.PERMANENT, "expiry"))
        services.append(
            ChildSpec("lease_keeper", self.ownership.keep, Restart.PERMANENT, "ownership")
        )
        services.append(ChildSpec("claim_keeper", self.claims.keep, Restart.PERMANENT, "ownership"))
        services.append(
            ChildSpec("rate_limit_settler", self.rate_limits.keep, Restart.PERMANENT, "rate_limits")
        )
        services.append(
            ChildSpec("metrics_sampler", partial(run_sampler, self), Restart.PERMANENT, "metrics")
        )
        platform = platform_of(settings)
        if platform is not None:
            publisher = FeedPublisher(store, catalog, settings.shop_url, platform, self.ownership)
            services.append(ChildSpec("feed_publisher", publisher.run, Restart.PERMANENT, "feeds"))
        self.services = Supervisor("services", services, on_restart=on_restart)
        self.root = Supervisor(
            "root",
            [
                ChildSpec("services", self.services.run, Restart.PERMANENT, "supervisor"),
                ChildSpec("sessions", self.sessions.run, Restart.PERMANENT, "supervisor"),
                ChildSpec("carts", self.carts.run, Restart.PERMANENT, "supervisor"),
            ],
            on_restart=on_restart,
        )

    def _slot(self, kind: str, factory: Callable[[], Actor], mailbox: Mailbox) -> None:
        self.slots[kind] = ServiceSlot(kind, factory, mailbox)

    # operators' view -------------------------------------------------------
    def actors(self) -> list[ActorInfo]:
        """Every live actor: the services, then the session actors."""
        return [*self._service_actors(), *_registry_actors(self.sessions)]

    def _service_actors(self) -> list[ActorInfo]:
        return [
            _info(
                kind, kind, slot.actor, slot.mailbox.depth, slot.incarnations - 1, slot.started_at
            )
            for kind, slot in self.slots.items()
            if slot.actor is not None
        ]

    def kill(self, actor_id: str) -> bool:
        """Crash one live actor on purpose; its supervisor restarts it."""
        slot = self.slots.get(actor_id)
        if slot is not None and slot.actor is not None:
            slot.handle.kill()
            return True
        return self.sessions.kill(actor_id) or self.carts.kill(actor_id)

    def supervision_tree(self) -> dict[str, Any]:
        """The tree as operators see it: each supervisor's strategy, restarts and
        restart intensity; each child's restarts, and for an actor its mailbox depth
        and status; the live virtual actors of each registry (the first
        `TREE_ACTORS_SHOWN`)."""
        actors = {info.id: info for info in self._service_actors()}

        def service(spec: ChildSpec) -> dict[str, Any]:
            info = actors.get(spec.id)
            return {
                "id": spec.id,
                "kind": spec.kind,
                "restart": spec.restart.value,
                "restarts": self.services.child_restarts[spec.id],
                "mailbox_depth": info.mailbox_depth if info else None,
                "status": info.status if info else None,
                "killable": info is not None,
            }

        return {
            **_supervisor_node(self.root),
            "children": [
                {
                    **_supervisor_node(self.services),
                    "children": [service(spec) for spec in self.services.children],
                },
                _registry_node("sessions", self.sessions),
                _registry_node("carts", self.carts),
            ],
        }

    def nudge_webhooks(self) -> None:
        """Deliver new events now; if the dispatcher is busy, its next poll will."""
        if self.webhooks is not None:
            with contextlib.suppress(ActorError):
                self.webhooks.tell(Nudge())

    def escalating(self) -> bool:
        """A supervisor is restarting subtrees right now: not a state to take traffic in."""
        return self.root.intensity.recent() > 0 or self.services.intensity.recent() > 2

    async def _seed(self) -> None:
        """Seed stock (and the uses of promotions with a usage limit), waiting for the
        store if it is not up yet (a Redis started after the server): the server starts
        serving once it can."""
        while True:
            try:
                await self.store.seed_stock(self.catalog.stock_levels())
                return
            except StoreUnavailable:
                log.warning("store_unavailable_at_start", retry_in_seconds=SEED_RETRY_SECONDS)
                await trio.sleep(SEED_RETRY_SECONDS)

    async def run(self) -> None:
        """Seed stock, then run the tree; returns only if the root gives up (it raises)."""
        if not self.store.durable:
            log.warning("store_not_durable", detail="memory store: data is lost at exit")
        await self._seed()
        metrics.initialise(
            (p.id for p in self.catalog),
            [self.catalog.currency],
            (p.name for p in self.processors),
        )
        self.running = True
        try:
            await self.root.run()
        finally:
            self.running = False

    async def close(self) -> None:
        """Release the processors' connections; call once the tree has stopped
        (the payment actor shares these processors across its restarts)."""
        for processor in self.processors:
            try:
                await processor.close()
            except Exception:
                log.exception("processor_close_failed", processor=processor.name)
