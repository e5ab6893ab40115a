"""Wall-clock time that trio timers can wait for.

`SystemClock` reads the real UTC time; `TrioClock` derives wall time from trio's
clock, so that under `MockClock` expiry dates and timers move together.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import trio


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def deadline(self, at: datetime) -> float:
        """The trio time at which wall time `at` is reached."""
        return trio.current_time() + (at - self.now()).total_seconds()


class TrioClock(SystemClock):
    """Wall time anchored once, then advanced by trio's (possibly mocked) clock."""

    def __init__(self, start: datetime | None = None) -> None:
        self._wall0 = start or datetime.now(UTC)
        self._trio0 = trio.current_time()

    def now(self) -> datetime:
        return self._wall0 + timedelta(seconds=trio.current_time() - self._trio0)
