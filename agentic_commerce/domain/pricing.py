"""The quote: everything derived from a session, recomputed from scratch on every read.

Per line: base = unit price x quantity, discount 0, subtotal = base - discount,
tax = subtotal x rate rounded half up, total = subtotal + tax. The session's
totals are sums of the line figures plus the selected fulfillment option, so
line and session totals always add up. Discounts are positive amounts that are
subtracted (the spec leaves the sign open; its examples use positive values).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from agentic_commerce.domain import shipping, tax
from agentic_commerce.domain.catalog import Catalog, Product
from agentic_commerce.domain.model import Line, Message, MessageType, Session, Total
from agentic_commerce.domain.money import percent_of
from agentic_commerce.domain.shipping import FulfillmentOption


@dataclass(frozen=True, slots=True)
class PricedLine:
    line: Line
    product: Product | None
    quantity: int  # 0 when the requested quantity cannot be sold (not whole, unknown product)
    base: int
    discount: int
    tax: int

    @property
    def subtotal(self) -> int:
        return self.base - self.discount

    @property
    def total(self) -> int:
        return self.subtotal + self.tax


@dataclass(frozen=True, slots=True)
class Quote:
    lines: tuple[PricedLine, ...]
    options: tuple[FulfillmentOption, ...]
    selected: FulfillmentOption | None
    digital: FulfillmentOption | None
    totals: tuple[Total, ...]
    messages: tuple[Message, ...]

    @property
    def ready(self) -> bool:
        return not any(m.type is MessageType.ERROR and m.blocking for m in self.messages)

    @property
    def total(self) -> int:
        return next(t.amount for t in self.totals if t.type == "total")


def _whole(quantity: Decimal) -> int | None:
    if quantity != quantity.to_integral_value() or quantity < 1:
        return None
    return int(quantity)


def _price_line(line: Line, catalog: Catalog, rule: tax.TaxRule) -> PricedLine:
    product = catalog.get(line.product_id)
    quantity = _whole(line.quantity) if product is not None else None
    if product is None or quantity is None:
        return PricedLine(line, product, 0, 0, 0, 0)
    base = product.unit_amount * quantity
    return PricedLine(line, product, quantity, base, 0, percent_of(base, rule.rate_percent))


def price_lines(
    lines: tuple[Line, ...], catalog: Catalog, rule: tax.TaxRule
) -> tuple[PricedLine, ...]:
    return tuple(_price_line(line, catalog, rule) for line in lines)


def line_messages(priced: tuple[PricedLine, ...], short_products: tuple[str, ...]) -> list[Message]:
    """What is wrong with each line: no longer sold, not whole, or short of stock."""
    messages: list[Message] = []
    for index, pl in enumerate(priced):
        path = f"$.line_items[{index}]"
        if pl.product is None:
            messages.append(
                Message(MessageType.ERROR, "This item is no longer sold.", "not_found", path)
            )
        elif pl.quantity == 0:
            messages.append(
                Message(
                    MessageType.ERROR,
                    f"{pl.product.title} is sold in whole units only.",
                    "invalid",
                    f"{path}.quantity",
                )
            )
        elif pl.line.product_id in short_products:
            messages.append(
                Message(
                    MessageType.ERROR,
                    f"{pl.product.title} is out of stock in the requested quantity.",
                    "out_of_stock",
                    path,
                )
            )
    return messages


def _options(
    session: Session, priced: tuple[PricedLine, ...], rule: tax.TaxRule, now: datetime
) -> tuple[tuple[FulfillmentOption, ...], FulfillmentOption | None]:
    """Shipping options for physical goods (with an address), plus digital delivery."""
    physical = [pl for pl in priced if pl.product is not None and not pl.product.digital]
    has_digital = any(pl.product is not None and pl.product.digital for pl in priced)
    address = session.fulfillment.address if session.fulfillment else None
    options: list[FulfillmentOption] = []
    if physical and address is not None:
        goods = sum(pl.subtotal for pl in physical)
        domestic = address.country.upper() == "US"
        for rate in shipping.shipping_rates(address):
            price = shipping.shipping_price(rate, goods, domestic)
            early, late = shipping.delivery_window(rate, now)
            options.append(
                FulfillmentOption(
                    id=rate.id,
                    type="shipping",
                    title=rate.title,
                    description=rate.description,
                    subtotal=price,
                    tax=percent_of(price, rule.rate_percent) if rule.taxes_shipping else 0,
                    carrier=rate.carrier,
                    earliest_delivery=early,
                    latest_delivery=late,
                )
            )
    digital = None
    if has_digital:
        digital = FulfillmentOption(
            id=shipping.DIGITAL_OPTION_ID,
            type="digital",
            title="Digital delivery",
            description="Download link sent by e-mail right after purchase",
            subtotal=0,
            tax=0,
        )
        options.append(digital)
    return tuple(options), digital


def selected_shipping(
    options: tuple[FulfillmentOption, ...], chosen: str | None
) -> FulfillmentOption | None:
    """The chosen shipping option, or the first (cheapest) one when none was chosen."""
    shipping_options = [o for o in options if o.type == "shipping"]
    for option in shipping_options:
        if option.id == chosen:
            return option
    return shipping_options[0] if shipping_options else None


def quote(session: Session, catalog: Catalog, now: datetime) -> Quote:
    address = session.fulfillment.address if session.fulfillment else None
    rule = tax.rule_for(address)
    priced = price_lines(session.lines, catalog, rule)
    options, digital = _options(session, priced, rule, now)
    selected = selected_shipping(options, session.shipping_option_id)

    messages = line_messages(priced, session.short_products)
    needs_shipping = any(pl.product is not None and not pl.product.digital for pl in priced)
    if needs_shipping and address is None:
        messages.append(
            Message(
                MessageType.ERROR,
                "A shipping address is required.",
                "missing",
                "$.fulfillment_details.address",
            )
        )
    messages.extend(session.notices)

    return Quote(priced, options, selected, digital, totals(priced, selected), tuple(messages))


def totals(priced: tuple[PricedLine, ...], selected: FulfillmentOption | None) -> tuple[Total, ...]:
    """The sums of the lines, plus the selected fulfillment option (with its tax)."""
    subtotal = sum(pl.subtotal for pl in priced)
    fulfillment = selected.subtotal if selected else 0
    tax_amount = sum(pl.tax for pl in priced) + (selected.tax if selected else 0)
    return (
        Total("items_base_amount", "Item(s) total", sum(pl.base for pl in priced)),
        Total("items_discount", "Item discounts", sum(pl.discount for pl in priced)),
        Total("subtotal", "Subtotal", subtotal),
        Total("fulfillment", "Shipping", fulfillment),
        Total("tax", "Tax", tax_amount),
        Total("total", "Total", subtotal + fulfillment + tax_amount),
    )
