"""When to retry a webhook delivery (pure).

Network errors, timeouts, 429 and 5xx are retried on the schedule (with +-10 %
jitter, and never sooner than a `Retry-After` asks); other 4xx are final (the
receiver refuses the event, retrying would not change its mind); after the
last delay of the schedule the event is dead-lettered.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

JITTER = 0.1


@dataclass(frozen=True, slots=True)
class Verdict:
    state: str  # delivered | pending (retry) | dead
    delay: float = 0.0  # seconds until the retry


def retryable(status: int | None) -> bool:
    """None stands for a network error or a timeout."""
    return status is None or status == 429 or status >= 500


def judge(
    status: int | None,
    attempts: int,
    schedule: tuple[float, ...],
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> Verdict:
    """The outcome of attempt number `attempts` (1-based) that got `status`."""
    if status is not None and 200 <= status < 300:
        return Verdict("delivered")
    if not retryable(status) or attempts > len(schedule):
        return Verdict("dead")
    base = schedule[attempts - 1]
    jittered = base * (1 + (rng or random).uniform(-JITTER, JITTER))
    return Verdict("pending", max(jittered, retry_after or 0.0))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (the HTTP-date form is ignored)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
