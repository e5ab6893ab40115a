"""The quote: everything derived from a session, recomputed from scratch on every read.

Per line: base = unit price x quantity, discount = what `each` promotions take
off it, subtotal = base - discount, order_discount = its share of the `across`
promotions, tax = (subtotal - order_discount) x rate rounded half up (tax is on
what the buyer pays), total = subtotal + tax. The session's totals are sums of
the line figures: subtotal - discount (the order discount) + fulfillment + tax =
total. Discounts are positive amounts that are subtracted (the spec leaves the
sign open; its examples use positive values). See `discounts` for the promotions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from agentic_commerce.domain import discounts, shipping, tax
from agentic_commerce.domain.catalog import Catalog, Product
from agentic_commerce.domain.discounts import NO_DISCOUNTS, Discounts, Target
from agentic_commerce.domain.model import Line, Message, MessageType, Session, Total
from agentic_commerce.domain.money import percent_of
from agentic_commerce.domain.shipping import FulfillmentOption


@dataclass(frozen=True, slots=True)
class PricedLine:
    line: Line
    product: Product | None
    quantity: int  # 0 when the requested quantity cannot be sold (not whole, unknown product)
    base: int
    discount: int  # from `each` promotions (the line's own)
    tax: int
    order_discount: int = 0  # its share of the `across` promotions (the order's)

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
    discounts: Discounts = NO_DISCOUNTS

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


def _sellable(line: Line, catalog: Catalog) -> tuple[Product | None, int]:
    """The line's product and whole quantity (0 when it cannot be sold)."""
    product = catalog.get(line.product_id)
    quantity = _whole(line.quantity) if product is not None else None
    return product, quantity or 0


def _targets(lines: tuple[Line, ...], catalog: Catalog) -> tuple[Target, ...]:
    """The lines as promotions see them (an unsellable line is worth 0)."""
    found = []
    for line in lines:
        product, quantity = _sellable(line, catalog)
        base = product.unit_amount * quantity if product is not None else 0
        found.append(Target(line.product_id, product.category if product else None, base))
    return tuple(found)


def price_lines(
    lines: tuple[Line, ...],
    catalog: Catalog,
    rule: tax.TaxRule,
    applied: Discounts = NO_DISCOUNTS,
) -> tuple[PricedLine, ...]:
    each = applied.per_line("each", len(lines))
    across = applied.per_line("across", len(lines))
    priced = []
    for index, line in enumerate(lines):
        product, quantity = _sellable(line, catalog)
        if product is None or quantity == 0:
            priced.append(PricedLine(line, product, 0, 0, 0, 0))
            continue
        base = product.unit_amount * quantity
        taxed = base - each[index] - across[index]
        priced.append(
            PricedLine(
                line,
                product,
                quantity,
                base,
                each[index],
                percent_of(taxed, rule.rate_percent),
                across[index],
            )
        )
    return tuple(priced)


def line_discounts(
    lines: tuple[Line, ...],
    catalog: Catalog,
    now: datetime,
    *,
    currency: str,
    codes: tuple[str, ...] = (),
    codes_allowed: bool = False,
    exhausted: tuple[str, ...] = (),
) -> Discounts:
    """What the catalog's promotions take off these lines (the lines are not even looked
    at when no promotion can apply: no code sent, none automatic)."""
    if not discounts.may_apply(catalog.promotions, codes):
        return NO_DISCOUNTS
    return discounts.apply(
        catalog.promotions,
        codes,
        _targets(lines, catalog),
        currency=currency,
        now=now,
        codes_allowed=codes_allowed,
        exhausted=exhausted,
    )


def session_discounts(session: Session, catalog: Catalog, now: datetime) -> Discounts:
    """The promotions on a session's lines: codes count once it negotiated the extension."""
    return line_discounts(
        session.lines,
        catalog,
        now,
        currency=session.currency,
        codes=session.discount_codes,
        codes_allowed=discounts.EXTENSION in session.extensions,
        exhausted=session.exhausted_promotions,
    )


def discount_messages(applied: Discounts) -> list[Message]:
    """A warning for each refused code (the extension's rule: the buyer must learn of it)."""
    return [
        Message(
            MessageType.WARNING,
            r.message,
            r.reason,
            f"$.discounts.codes[{r.index}]",
            blocking=False,
        )
        for r in applied.rejected
    ]


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
    applied = session_discounts(session, catalog, now)
    priced = price_lines(session.lines, catalog, rule, applied)
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
    messages.extend(discount_messages(applied))
    messages.extend(session.notices)
    return Quote(
        priced, options, selected, digital, totals(priced, selected), tuple(messages), applied
    )


def totals(priced: tuple[PricedLine, ...], selected: FulfillmentOption | None) -> tuple[Total, ...]:
    """The sums of the lines, less the order discount (listed only when there is one),
    plus the selected fulfillment option (with its tax)."""
    subtotal = sum(pl.subtotal for pl in priced)
    order_discount = sum(pl.order_discount for pl in priced)
    fulfillment = selected.subtotal if selected else 0
    tax_amount = sum(pl.tax for pl in priced) + (selected.tax if selected else 0)
    order = (Total("discount", "Order discount", order_discount),) if order_discount else ()
    return (
        Total("items_base_amount", "Item(s) total", sum(pl.base for pl in priced)),
        Total("items_discount", "Item discounts", sum(pl.discount for pl in priced)),
        Total("subtotal", "Subtotal", subtotal),
        *order,
        Total("fulfillment", "Shipping", fulfillment),
        Total("tax", "Tax", tax_amount),
        Total("total", "Total", subtotal - order_discount + fulfillment + tax_amount),
    )
