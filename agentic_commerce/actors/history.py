"""The last minutes of this process's own metrics, for the operators' charts.

At each sample the metrics sampler records what the process's Prometheus counters
grew by since the previous sample (requests, orders, errors), as rates, and the
webhook lag (the age of the oldest event still waiting for delivery). A ring
buffer keeps the last `WINDOW_SECONDS`; the admin page draws it. Nothing external
is asked, so the charts work offline and per instance.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from agentic_commerce import metrics

WINDOW_SECONDS = 600.0
CONSOLE_ROUTES = "/admin"  # the console's own polling is not the traffic it shows
SERIES = {  # name: unit, in the order of a point's values
    "requests": "per second",
    "orders": "per minute",
    "errors": "per minute",
    "webhook_lag": "seconds",
}


@dataclass(frozen=True, slots=True)
class Totals:
    """Counter totals at one moment."""

    requests: float
    orders: float
    errors: float  # 5xx answers, actor crashes and escalations


def _total(counter: Counter) -> float:
    return sum(
        sample.value
        for family in counter.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    )


def current_totals() -> Totals:
    """This process's counters now (in multiprocess mode, still this process's own)."""
    requests = errors = 0.0
    for family in metrics.HTTP_REQUESTS.collect():
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            if sample.labels["route"].startswith(CONSOLE_ROUTES):
                continue
            requests += sample.value
            if sample.labels["status"].startswith("5"):
                errors += sample.value
    return Totals(requests, _total(metrics.ORDERS), errors + _total(metrics.CRASHES))


class MetricsHistory:
    """A ring buffer of samples: (wall time, requests/s, orders/min, errors/min, lag s)."""

    def __init__(self, interval: float, window: float = WINDOW_SECONDS) -> None:
        self.interval = interval
        self.window = window
        self._points: deque[tuple[float, float, float, float, float | None]] = deque(
            maxlen=math.ceil(window / interval)
        )
        self._last: tuple[float, Totals] | None = None

    def record(self, wall: float, now: float, totals: Totals, lag: float | None) -> None:
        """One sample: `now` (monotonic) measures the interval, `wall` labels it; `lag`
        is None when the store could not say."""
        if self._last is not None:
            since, before = self._last
            seconds = max(now - since, 1e-6)
            self._points.append(
                (
                    wall,
                    (totals.requests - before.requests) / seconds,
                    (totals.orders - before.orders) / seconds * 60.0,
                    (totals.errors - before.errors) / seconds * 60.0,
                    lag,
                )
            )
        self._last = (now, totals)

    def json(self) -> dict[str, Any]:
        """Each series as [[unix seconds, value], ...], oldest first."""
        columns = list(zip(*self._points, strict=True)) if self._points else []
        times = columns[0] if columns else ()
        series = {}
        for index, (name, unit) in enumerate(SERIES.items(), start=1):
            values = columns[index] if columns else ()
            points = [
                [round(t, 3), None if v is None else round(v, 3)]
                for t, v in zip(times, values, strict=True)
            ]
            series[name] = {"unit": unit, "points": points}
        return {"interval_seconds": self.interval, "window_seconds": self.window, "series": series}
