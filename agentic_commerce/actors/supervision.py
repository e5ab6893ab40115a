"""OTP-style supervision: child specs as data, one_for_one restarts, restart intensity.

A supervisor restarts a crashed child on its own (one_for_one). It counts the
restarts of all its children; more than `max_restarts` within `period` seconds
means restarting single children does not help, so it gives up: its whole
subtree is cancelled and `Escalation` propagates to its parent, which restarts
the supervisor (and with it the subtree) as one of its own children. At the
root, an escalation stops the process: that is the truly unrecoverable case.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from traceback import extract_tb

import structlog
import trio

from agentic_commerce import metrics

log = structlog.get_logger("agentic_commerce.supervision")


class Restart(StrEnum):
    PERMANENT = "permanent"  # always restarted
    TRANSIENT = "transient"  # restarted only after a crash
    TEMPORARY = "temporary"  # never restarted


class Escalation(Exception):
    """A supervisor exceeded its restart intensity."""


@dataclass(frozen=True, slots=True)
class ChildSpec:
    id: str
    run: Callable[[], Awaitable[None]]
    restart: Restart = Restart.PERMANENT
    kind: str = "service"


class RestartIntensity:
    """At most `max_restarts` in any `period` seconds of trio time."""

    def __init__(self, max_restarts: int, period: float) -> None:
        self.max_restarts = max_restarts
        self.period = period
        self._times: deque[float] = deque()

    def record(self) -> bool:
        """Count one restart now; False when the intensity is exceeded."""
        now = trio.current_time()
        self._times.append(now)
        while self._times and self._times[0] <= now - self.period:
            self._times.popleft()
        return len(self._times) <= self.max_restarts

    def reset(self) -> None:
        self._times.clear()

    def recent(self) -> int:
        """Restarts counted within the current period."""
        now = trio.current_time()
        return sum(1 for t in self._times if t > now - self.period)


RestartHook = Callable[[str, str], None]


def report_crash(kind: str, exc: BaseException, **where: str) -> None:
    """Count and log one crash with the line it came from: the evidence operators
    read and the tests' no-crash check fails on (no message text: it may hold data)."""
    frames = extract_tb(exc.__traceback__)
    origin = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    metrics.CRASHES.labels(kind).inc()
    log.warning("actor_crashed", kind=kind, error=type(exc).__name__, origin=origin, **where)


def report_escalation(supervisor: str, **detail: object) -> None:
    metrics.CRASHES.labels("supervisor").inc()
    log.error("supervisor_escalated", supervisor=supervisor, **detail)


class Supervisor:
    """A static one_for_one supervisor; its `run` is usable as a child of another."""

    def __init__(
        self,
        name: str,
        children: Sequence[ChildSpec],
        *,
        max_restarts: int = 3,
        period: float = 5.0,
        on_restart: RestartHook | None = None,
    ) -> None:
        self.name = name
        self.children = list(children)
        self.intensity = RestartIntensity(max_restarts, period)
        self.on_restart = on_restart
        self.restarts = 0
        self.child_restarts: Counter[str] = Counter()  # per child id, for operators

    async def run(self) -> None:
        """Run the children until all have stopped for good, or escalate."""
        self.intensity.reset()
        async with trio.open_nursery() as nursery:
            for spec in self.children:
                nursery.start_soon(self._keep, spec)

    async def _keep(self, spec: ChildSpec) -> None:
        while True:
            try:
                await spec.run()
            except Exception as exc:
                report_crash(spec.kind, exc, supervisor=self.name, child=spec.id)
                if spec.restart is Restart.TEMPORARY:
                    return
            else:
                if spec.restart is not Restart.PERMANENT:
                    return
            if not self.intensity.record():
                report_escalation(self.name, child=spec.id)
                raise Escalation(f"{self.name}: restart intensity exceeded")
            self.restarts += 1
            self.child_restarts[spec.id] += 1
            if self.on_restart is not None:
                self.on_restart(spec.kind, spec.id)
            log.info("actor_restarted", supervisor=self.name, child=spec.id, kind=spec.kind)
