"""Sales tax by jurisdiction, from one table.

Rates are percentages. A US address uses its state's rate (or the US default);
another country uses its country rate (or the world default, 0). Tax is computed
per line on the line subtotal and rounded half up per line, so line taxes always
add up to the session's item tax. Whether shipping is taxed is a per-jurisdiction
setting of the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agentic_commerce.domain.model import Address


@dataclass(frozen=True, slots=True)
class TaxRule:
    jurisdiction: str
    rate_percent: Decimal
    taxes_shipping: bool


US_STATES: dict[str, TaxRule] = {
    "CA": TaxRule("US-CA", Decimal("8.75"), taxes_shipping=False),
    "NY": TaxRule("US-NY", Decimal("8.375"), taxes_shipping=True),
    "TX": TaxRule("US-TX", Decimal("8.25"), taxes_shipping=True),
    "FL": TaxRule("US-FL", Decimal("7.5"), taxes_shipping=False),
    "WA": TaxRule("US-WA", Decimal("6.5"), taxes_shipping=True),
}
US_DEFAULT = TaxRule("US", Decimal("6"), taxes_shipping=False)
COUNTRIES: dict[str, TaxRule] = {
    "CA": TaxRule("CA", Decimal("5"), taxes_shipping=True),
    "GB": TaxRule("GB", Decimal("20"), taxes_shipping=True),
    "DE": TaxRule("DE", Decimal("19"), taxes_shipping=True),
    "FR": TaxRule("FR", Decimal("20"), taxes_shipping=True),
    "AU": TaxRule("AU", Decimal("10"), taxes_shipping=True),
    "JP": TaxRule("JP", Decimal("10"), taxes_shipping=True),
}
WORLD_DEFAULT = TaxRule("default", Decimal("0"), taxes_shipping=False)
NO_ADDRESS = TaxRule("unknown", Decimal("0"), taxes_shipping=False)


def rule_for(address: Address | None) -> TaxRule:
    """The rule for a destination; no address yet means no tax yet."""
    if address is None:
        return NO_ADDRESS
    country = address.country.upper()
    if country == "US":
        return US_STATES.get(address.state.upper(), US_DEFAULT)
    return COUNTRIES.get(country, WORLD_DEFAULT)
