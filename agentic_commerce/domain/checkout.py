"""Pure checkout operations: a command and the current state in, the next state out.

These functions never touch a store, a clock or a payment processor; the session
actor supplies `now`, the catalog and the inventory outcome, and commits the result.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from agentic_commerce.domain import contact, discounts, pricing
from agentic_commerce.domain.catalog import Catalog
from agentic_commerce.domain.commands import (
    UNSET,
    CompleteSession,
    CreateSession,
    FulfillmentChoice,
    LineInput,
    UpdateSession,
)
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.model import (
    Attribution,
    Buyer,
    FulfillmentDetails,
    Line,
    Message,
    MessageType,
    Session,
    Status,
)
from agentic_commerce.domain.state_machine import Event, transition


def line_id(product_id: str) -> str:
    """Line ids are derived from the product, so one product is one line."""
    return f"li_{product_id}"


def build_lines(inputs: tuple[LineInput, ...], catalog: Catalog) -> tuple[Line, ...]:
    """Lines in request order; repeated products are merged into one line."""
    quantities: dict[str, Decimal] = {}
    for item in inputs:
        if catalog.get(item.product_id) is None:
            raise RequestRejected("invalid_item_id", "Unknown item id.", item.param)
        quantities[item.product_id] = quantities.get(item.product_id, Decimal(0)) + item.quantity
    return tuple(Line(line_id(pid), pid, qty) for pid, qty in quantities.items())


def _phone_region(fulfillment: FulfillmentDetails | None) -> str | None:
    if fulfillment is not None and fulfillment.address is not None:
        return fulfillment.address.country.upper()
    return None


def checked_buyer(buyer: Buyer, region: str | None, notices: list[Message]) -> Buyer | None:
    """The buyer with a valid e-mail, or None with a notice when the e-mail is invalid."""
    email = contact.normalized_email(buyer.email) if buyer.email is not None else None
    if buyer.email is not None and email is None:
        notices.append(
            Message(
                MessageType.ERROR, "The e-mail address is not valid.", "invalid", "$.buyer.email"
            )
        )
        return None
    phone = buyer.phone_number
    if phone is not None and not contact.possible_phone(phone, region):
        notices.append(
            Message(
                MessageType.ERROR,
                "The phone number is not a possible number.",
                "invalid",
                "$.buyer.phone_number",
            )
        )
        phone = None
    return replace(buyer, email=email if email is not None else buyer.email, phone_number=phone)


def _checked_fulfillment(details: FulfillmentDetails, notices: list[Message]) -> FulfillmentDetails:
    """Fulfillment details with impossible contact fields dropped and reported."""
    email, phone = details.email, details.phone_number
    if email is not None:
        email = contact.normalized_email(email)
        if email is None:
            notices.append(
                Message(
                    MessageType.ERROR,
                    "The e-mail address is not valid.",
                    "invalid",
                    "$.fulfillment_details.email",
                )
            )
    if phone is not None and not contact.possible_phone(phone, _phone_region(details)):
        notices.append(
            Message(
                MessageType.ERROR,
                "The phone number is not a possible number.",
                "invalid",
                "$.fulfillment_details.phone_number",
            )
        )
        phone = None
    return replace(details, email=email, phone_number=phone)


def _resolve_choices(
    session: Session, choices: tuple[FulfillmentChoice, ...], catalog: Catalog, now: datetime
) -> str | None:
    """The shipping option id the selections name, each checked against this session.

    Item ids may be line ids or product ids. A digital selection is checked and
    needs nothing stored (digital delivery is the only digital option).
    """
    known_items = {line.id for line in session.lines} | {line.product_id for line in session.lines}
    options = {o.id: o for o in pricing.quote(session, catalog, now).options}
    chosen: str | None = None
    for choice in choices:
        for index, item_id in enumerate(choice.item_ids):
            if item_id not in known_items:
                raise RequestRejected(
                    "invalid_item_id",
                    "item_ids must name line items of this session.",
                    f"{choice.param}.item_ids[{index}]",
                )
        option = options.get(choice.option_id)
        if option is None or (choice.type is not None and choice.type != option.type):
            raise RequestRejected(
                "invalid_fulfillment_option",
                "Unknown fulfillment option for this session.",
                choice.param if choice.type is None else f"{choice.param}.option_id",
            )
        if option.type == "shipping":
            if chosen is not None and chosen != option.id:
                raise RequestRejected(
                    "multiple_shipping_options",
                    "Select one shipping option for all shipped items.",
                    f"{choice.param}.option_id",
                )
            chosen = option.id
    return chosen


def settle(session: Session, catalog: Catalog, now: datetime, *, void: bool = False) -> Session:
    """Re-evaluate readiness after a content change (rules 3 and 5 of the state machine)."""
    return settle_quoted(session, catalog, now, void=void)[0]


def settle_quoted(
    session: Session, catalog: Catalog, now: datetime, *, void: bool = False
) -> tuple[Session, pricing.Quote]:
    """`settle`, also returning the quote it computed (status does not change a quote).

    A session waiting for 3-D Secure keeps waiting (`EVALUATE`) unless `void`
    says the change voided its pending charge (see `voids_authentication`): then
    the pending payment is dropped and readiness is evaluated afresh.
    """
    quoted = pricing.quote(session, catalog, now)
    if void and session.status is Status.AUTHENTICATION_REQUIRED:
        status = transition(session.status, Event.VOID_AUTHENTICATION, ready=quoted.ready)
        return replace(session, status=status, pending_payment=None, updated_at=now), quoted
    status = transition(session.status, Event.EVALUATE, ready=quoted.ready)
    return replace(session, status=status, updated_at=now), quoted


def voids_authentication(before: Session, after: Session, catalog: Catalog, now: datetime) -> bool:
    """Whether changing `before` into `after` voids the charge `before` waits on.

    A charge waiting for 3-D Secure was made for one cart and one amount: it is
    void when the lines (products, quantities), the currency or the total change.
    Anything else (buyer, order notes, an address or shipping option that leaves
    the total as it is) keeps it. Sessions not waiting for 3-D Secure void nothing.
    """
    if before.status is not Status.AUTHENTICATION_REQUIRED or before.pending_payment is None:
        return False
    if _cart(before) != _cart(after) or before.currency != after.currency:
        return True
    return pricing.quote(before, catalog, now).total != pricing.quote(after, catalog, now).total


def _cart(session: Session) -> dict[str, Decimal]:
    """Quantity per product (one line per product; the order of lines is no change)."""
    return {line.product_id: line.quantity for line in session.lines}


def create(
    cmd: CreateSession,
    *,
    session_id: str,
    merchant_id: str,
    api_version: str,
    catalog: Catalog,
    now: datetime,
    ttl: timedelta,
) -> Session:
    """A new session (status not yet settled: the actor reserves stock, then settles)."""
    if cmd.currency is not None and cmd.currency.lower() != catalog.currency:
        raise RequestRejected(
            "unsupported_currency",
            f"This merchant sells in {catalog.currency} only.",
            "$.currency",
        )
    notices: list[Message] = []
    fulfillment = (
        _checked_fulfillment(cmd.fulfillment, notices) if cmd.fulfillment is not None else None
    )
    buyer = (
        checked_buyer(cmd.buyer, _phone_region(fulfillment), notices)
        if cmd.buyer is not None
        else None
    )
    session = Session(
        id=session_id,
        merchant_id=merchant_id,
        api_version=api_version,
        status=Status.NOT_READY_FOR_PAYMENT,
        currency=catalog.currency,
        lines=build_lines(cmd.lines, catalog),
        created_at=now,
        updated_at=now,
        expires_at=now + ttl,
        buyer=buyer,
        fulfillment=fulfillment,
        interventions=cmd.interventions,
        locale=cmd.locale,
        timezone=cmd.timezone,
        quote_id=cmd.quote_id,
        metadata=cmd.metadata,
        order_notes=cmd.order_notes,
        notices=tuple(notices),
        attributions=() if cmd.attribution is None else (received(cmd.attribution, now),),
        extensions=catalog.extensions if discounts.negotiated(cmd.extensions) else (),
        discount_codes=cmd.discount_codes,
    )
    if cmd.fulfillment_choices:
        chosen = _resolve_choices(session, cmd.fulfillment_choices, catalog, now)
        session = replace(session, shipping_option_id=chosen)
    return session


def update(session: Session, cmd: UpdateSession, catalog: Catalog, now: datetime) -> Session:
    """The session with the update applied (absent fields kept, `None` clears)."""
    notices: list[Message] = []
    changed = replace(session, notices=())
    if cmd.lines is not UNSET:
        changed = replace(changed, lines=build_lines(cmd.lines, catalog))
    if cmd.fulfillment is not UNSET:
        fulfillment = (
            _checked_fulfillment(cmd.fulfillment, notices) if cmd.fulfillment is not None else None
        )
        changed = replace(changed, fulfillment=fulfillment)
    if cmd.buyer is not UNSET:
        buyer = None
        if cmd.buyer is not None:
            checked = checked_buyer(cmd.buyer, _phone_region(changed.fulfillment), notices)
            buyer = checked if checked is not None else session.buyer
        changed = replace(changed, buyer=buyer)
    if cmd.fulfillment_choices is not UNSET:
        choices = cmd.fulfillment_choices or ()
        chosen = _resolve_choices(changed, choices, catalog, now)
        if chosen is not None or not choices:
            changed = replace(changed, shipping_option_id=chosen)
    if cmd.order_notes is not UNSET:
        changed = replace(changed, order_notes=cmd.order_notes)
    if cmd.discount_codes is not UNSET:
        changed = replace(changed, discount_codes=cmd.discount_codes, exhausted_promotions=())
    return replace(changed, notices=tuple(notices))


def wanted_stock(session: Session) -> dict[str, int]:
    """Units to hold per product: whole quantities only (others are reported, not held)."""
    wants: dict[str, int] = {}
    for line in session.lines:
        if line.quantity == line.quantity.to_integral_value() and line.quantity >= 1:
            wants[line.product_id] = int(line.quantity)
    return wants


def with_shortages(session: Session, short: tuple[str, ...]) -> Session:
    """The session after a hold: the products short of stock, and the promotions whose
    uses ran out added to those known to (their codes are refused from now on)."""
    products = tuple(key for key in short if discounts.promotion_of(key) is None)
    spent = [p for key in short if (p := discounts.promotion_of(key)) is not None]
    exhausted = tuple(dict.fromkeys((*session.exhausted_promotions, *spent)))
    return replace(session, short_products=products, exhausted_promotions=exhausted)


def received(attribution: Attribution, now: datetime) -> Attribution:
    """Stamped on arrival, and flagged when it had already expired (kept all the same:
    an attribution never blocks a checkout)."""
    ends = attribution.details.get("expires_at")
    try:
        expired = isinstance(ends, str) and datetime.fromisoformat(ends) <= now
    except ValueError:
        expired = False  # the request model checked the format; read leniently
    return replace(attribution, received_at=now, expired=expired)


def take_completion_details(session: Session, cmd: CompleteSession, now: datetime) -> Session:
    """What a complete brings for the order beside the payment: its last-touch attribution
    (after the first, replacing an earlier last) and the buyer's marketing consents (a
    complete that sends none keeps the earlier ones)."""
    attributions = session.attributions
    if cmd.attribution is not None:
        first = tuple(a for a in attributions if a.touchpoint == "first")
        attributions = (*first, received(cmd.attribution, now))
    consents = session.marketing_consents
    if cmd.marketing_consents is not None:
        consents = cmd.marketing_consents
    if attributions == session.attributions and consents == session.marketing_consents:
        return session
    return replace(session, attributions=attributions, marketing_consents=consents)
