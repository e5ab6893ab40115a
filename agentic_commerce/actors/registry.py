"""Virtual actors: the registry that activates, supervises and passivates session actors.

The first message for an id activates its actor (which loads its state from the
store); an idle actor passivates itself and leaves the table. Session actors are
transient children: a crash restarts them (they reload committed state), a
normal stop does not. The registry counts restarts like any supervisor; when the
intensity is exceeded it restarts its own subtree (every live session actor is
stopped, queued asks fail with `ActorStopped`, and they re-activate on demand).
It does not escalate further: a session actor holds no state the store lacks,
so crashes of sessions can never justify stopping the process.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
import trio

from agentic_commerce import tracing
from agentic_commerce.actors.runtime import (
    Actor,
    ActorHandle,
    ActorRef,
    ActorStopped,
    Mailbox,
    run_actor,
)
from agentic_commerce.actors.supervision import (
    RestartHook,
    RestartIntensity,
    report_crash,
    report_escalation,
)

log = structlog.get_logger("agentic_commerce.registry")

ActorFactory = Callable[[str, "ActorRegistry"], Actor]


@dataclass(slots=True)
class Activation:
    """One live virtual actor: its address, its current incarnation and restarts so far."""

    ref: ActorRef
    handle: ActorHandle = field(default_factory=ActorHandle)
    actor: Actor | None = None
    restarts: int = 0
    started_at: float = 0.0
    stopping: bool = False  # stopped on purpose: not restarted
    woken_by: tracing.Sent | None = None  # the trace of the request that activated it


class ActorRegistry:
    def __init__(
        self,
        kind: str,
        factory: ActorFactory,
        *,
        mailbox_size: int,
        max_restarts: int = 50,
        period: float = 5.0,
        on_restart: RestartHook | None = None,
    ) -> None:
        self.kind = kind
        self.factory = factory
        self.mailbox_size = mailbox_size
        self.intensity = RestartIntensity(max_restarts, period)
        self.on_restart = on_restart
        self.subtree_restarts = 0
        self._live: dict[str, Activation] = {}
        self._nursery: trio.Nursery | None = None
        self._context = contextvars.Context()  # the registry task's own, once it runs
        self._ready = trio.Event()

    # public API ---------------------------------------------------------
    def __len__(self) -> int:
        return len(self._live)

    @property
    def running(self) -> bool:
        return self._nursery is not None

    def live(self) -> dict[str, Activation]:
        return dict(self._live)

    def lookup(self, actor_id: str) -> Activation | None:
        return self._live.get(actor_id)

    def ref(self, actor_id: str) -> ActorRef:
        """The actor's address, activating it when it is not live."""
        activation = self._live.get(actor_id)
        if activation is None:
            if self._nursery is None:
                raise ActorStopped(f"{self.kind} registry is not running")
            activation = Activation(
                ActorRef(f"{self.kind}:{actor_id}", Mailbox(self.mailbox_size)),
                woken_by=tracing.sent(),
            )
            self._live[actor_id] = activation
            # A new task copies the context of the task that starts it: in the registry's
            # own, an actor activated by a request does not keep that request (quart's
            # request context, its headers and scope) alive as long as it lives.
            self._context.run(self._nursery.start_soon, self._supervise, actor_id, activation)
        return activation.ref

    def kill(self, actor_id: str) -> bool:
        """Crash one live actor (for operators and chaos tests)."""
        activation = self._live.get(actor_id)
        if activation is None:
            return False
        activation.handle.kill()
        return True

    def stop(self, actor_id: str) -> None:
        """Stop one live actor for good (its session moved to another instance);
        queued asks fail with `ActorStopped`."""
        activation = self._live.get(actor_id)
        if activation is not None:
            activation.stopping = True
            activation.handle.kill()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    # supervision ----------------------------------------------------------
    async def run(self) -> None:
        self._context = contextvars.copy_context()
        while True:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._ready.set()
                await trio.sleep_forever()
            # Only a subtree restart cancels the nursery: start over empty.
            self.subtree_restarts += 1
            self.intensity.reset()

    def _restart_subtree(self) -> None:
        report_escalation(self.kind, live=len(self._live))
        self._nursery, nursery = None, self._nursery
        for activation in self._live.values():
            activation.ref.mailbox.fail_pending(ActorStopped("session supervisor restarted"))
        self._live.clear()
        if nursery is not None:
            nursery.cancel_scope.cancel()

    async def _supervise(self, actor_id: str, activation: Activation) -> None:
        try:
            while True:
                activation.handle = ActorHandle()
                activation.actor = self.factory(actor_id, self)
                activation.started_at = trio.current_time()
                woken_by, activation.woken_by = activation.woken_by, None  # a restart: no request's
                try:
                    await run_actor(
                        activation.actor, activation.ref.mailbox, activation.handle, woken_by
                    )
                except Exception as exc:
                    if activation.stopping:
                        return
                    report_crash(self.kind, exc, actor=actor_id)
                    if not self.intensity.record():
                        self._restart_subtree()
                        return
                    activation.restarts += 1
                    if self.on_restart is not None:
                        self.on_restart(self.kind, actor_id)
                    log.info("actor_restarted", kind=self.kind, actor=actor_id)
                    continue
                return
        finally:
            if self._live.get(actor_id) is activation:
                del self._live[actor_id]
                activation.ref.mailbox.fail_pending(ActorStopped(f"{actor_id} stopped"))

    def passivate(self, actor_id: str, actor: Actor) -> bool:
        """Called by an idle actor: leave the table if no message is queued.

        Runs without a checkpoint, so no message can slip in between the check
        and the removal; a later message activates a fresh actor.
        """
        activation = self._live.get(actor_id)
        if activation is None or activation.actor is not actor:
            return True
        if activation.ref.mailbox.depth:
            return False
        del self._live[actor_id]
        activation.ref.mailbox.send.close()
        return True
