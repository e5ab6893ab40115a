"""Integer minor-unit arithmetic with the one rounding rule the server uses."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def percent_of(amount: int, rate_percent: Decimal) -> int:
    """`amount * rate / 100`, rounded half up to a whole minor unit (e.g. 0.5 cent -> 1)."""
    exact = Decimal(amount) * rate_percent / Decimal(100)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
