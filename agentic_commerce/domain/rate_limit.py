"""GCRA (the generic cell rate algorithm): a token bucket kept as one number.

Each request costs `interval = 60 / per_minute` seconds of "theoretical arrival
time" (TAT). A request at `now` is allowed when the TAT it would leave is at
most `burst * interval` ahead of `now`. The state per key is only the TAT,
which a store can update atomically (a Redis Lua script, one dict entry).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    per_minute: int
    burst: int

    @property
    def interval(self) -> float:
        return 60.0 / self.per_minute


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until the bucket is full again
    retry_after: int  # seconds until the next request is allowed (0 when allowed)


def decide(limit: Limit, tat: float | None, now: float) -> tuple[Decision, float]:
    """The decision for one request at `now`, and the TAT to store afterwards."""
    interval = limit.interval
    window = limit.burst * interval
    tat = max(tat if tat is not None else now, now)
    new_tat = tat + interval
    allowed = new_tat - now <= window
    stored = new_tat if allowed else tat
    remaining = max(0, limit.burst - math.ceil((stored - now) / interval - 1e-9))
    decision = Decision(
        allowed=allowed,
        limit=limit.burst,
        remaining=remaining,
        reset_seconds=math.ceil(max(0.0, stored - now)),
        retry_after=0 if allowed else max(1, math.ceil(new_tat - now - window)),
    )
    return decision, stored
