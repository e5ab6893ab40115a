"""The operators' history of the process's own metrics: rates between samples, a ring
buffer of the last minutes, gaps where the store could not say; and the counters it
reads (the console's own routes left out)."""

from __future__ import annotations

import pytest

from agentic_commerce import metrics
from agentic_commerce.actors.history import MetricsHistory, Totals, current_totals


def test_samples_become_rates_over_their_interval() -> None:
    history = MetricsHistory(interval=2.0, window=10.0)
    history.record(1000.0, 50.0, Totals(requests=10, orders=1, errors=0), 0.0)
    assert all(s["points"] == [] for s in history.json()["series"].values())  # no interval yet
    history.record(1002.0, 52.0, Totals(requests=30, orders=3, errors=1), 4.5)
    series = history.json()["series"]
    assert series["requests"] == {"unit": "per second", "points": [[1002.0, 10.0]]}
    assert series["orders"] == {"unit": "per minute", "points": [[1002.0, 60.0]]}
    assert series["errors"]["points"] == [[1002.0, 30.0]]
    assert series["webhook_lag"] == {"unit": "seconds", "points": [[1002.0, 4.5]]}


def test_the_buffer_keeps_the_window_and_shows_gaps() -> None:
    history = MetricsHistory(interval=2.0, window=10.0)
    for n in range(10):
        lag = None if n == 7 else float(n)
        history.record(1000.0 + 2 * n, 2.0 * n, Totals(n, 0, 0), lag)
    lags = history.json()["series"]["webhook_lag"]["points"]
    assert [t for t, _ in lags] == [1010.0, 1012.0, 1014.0, 1016.0, 1018.0]  # 5 = 10 s / 2 s
    assert [v for _, v in lags] == [5.0, 6.0, None, 8.0, 9.0]
    assert history.json()["window_seconds"] == 10.0


@pytest.mark.kills_actors  # it counts a crash (none happens)
def test_totals_leave_out_the_console_and_count_5xx_and_crashes_as_errors() -> None:
    before = current_totals()
    metrics.HTTP_REQUESTS.labels("/checkout_sessions", "POST", "201").inc(3)
    metrics.HTTP_REQUESTS.labels("/checkout_sessions", "POST", "503").inc()
    metrics.HTTP_REQUESTS.labels("/admin/ui/state", "GET", "200").inc(5)
    metrics.ORDERS.labels("usd").inc(2)
    metrics.CRASHES.labels("payment").inc()
    after = current_totals()
    assert after.requests - before.requests == 4
    assert after.orders - before.orders == 2
    assert after.errors - before.errors == 2
