"""API version 2025-09-29: the first release, still spoken by deployed agents.

Differences from the canonical (newest) model that this codec bridges:
- requests send `items[{id, quantity}]` (quantity any number > 0 in the current
  text; a non-whole quantity is reported as an `invalid` message),
  `fulfillment_address` and `fulfillment_option_id`; no currency;
- five statuses: `expired` shows as `canceled` with an info message,
  `authentication_required` as `not_ready_for_payment`, `complete_in_progress`
  as `in_progress`;
- line items carry flat amounts; messages have six error codes (others become
  `invalid`); the order is `{id, checkout_session_id, permalink_url}`, and only
  the complete endpoint answers it (`CheckoutSessionWithOrder`: the plain
  `CheckoutSession` of the other endpoints has no `order`);
- Buyer needs first and last name: a buyer without them is not shown.

The codec is made of small pieces that 2025-12-12 and 2026-01-16, the versions of
the same family, override (`v2025_12_12`, `v2026_01_16`); what their rows of
`traits` say (statuses, error codes, 3-D Secure, `order`) is read from there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from agentic_commerce.domain import model
from agentic_commerce.domain.commands import (
    UNSET,
    CancelSession,
    CompleteSession,
    CreateSession,
    FulfillmentChoice,
    LineInput,
    Maybe,
    PaymentCredential,
    UpdateSession,
)
from agentic_commerce.domain.pricing import PricedLine, Quote
from agentic_commerce.domain.shipping import FulfillmentOption
from agentic_commerce.domain.view import SessionView
from agentic_commerce.protocol import requests_2025_09_29 as req
from agentic_commerce.protocol.base import (
    JSON,
    Body,
    Codec,
    address,
    attribution_of,
    check_line_count,
    links,
    number,
    parse,
    timestamp,
    to_address,
    total,
)
from agentic_commerce.protocol.orders import order_reference
from agentic_commerce.protocol.three_ds import authentication_metadata
from agentic_commerce.protocol.traits import BY_VERSION, SHOWN_AS

VERSION = "2025-09-29"
TOTAL_TYPES = frozenset(
    {
        "items_base_amount",
        "items_discount",
        "subtotal",
        "discount",
        "fulfillment",
        "tax",
        "fee",
        "total",
    }
)
EXPIRED_NOTICE = {
    "type": "info",
    "content_type": "plain",
    "content": "This checkout session expired.",
}
CODE_ALIASES = {"intervention_required": "requires_3ds"}
T = TypeVar("T")


class Item(Protocol):
    """A request item of this family: an id and a quantity (a number here, an
    integer from 2025-12-12)."""

    @property
    def id(self) -> str: ...

    @property
    def quantity(self) -> Decimal | int: ...


class Cart(Protocol):
    """What the create and update bodies of this family share."""

    @property
    def items(self) -> Sequence[Item] | None: ...

    @property
    def buyer(self) -> req.Buyer | None: ...

    @property
    def model_fields_set(self) -> set[str]: ...


def given(body: Cart, field: str, convert: Callable[[Any], T]) -> Maybe[T | None]:
    """An update field: UNSET when it was not sent, None when sent as null."""
    if field not in body.model_fields_set:
        return UNSET
    value = getattr(body, field)
    return None if value is None else convert(value)


def _buyer(value: req.Buyer) -> model.Buyer:
    return model.Buyer(
        email=value.email,
        first_name=value.first_name,
        last_name=value.last_name,
        phone_number=value.phone_number,
    )


def _fulfillment(value: req.Address) -> model.FulfillmentDetails:
    return model.FulfillmentDetails(
        name=value.name, address=to_address(value, "$.fulfillment_address")
    )


def _choice(option_id: str) -> tuple[FulfillmentChoice, ...]:
    return (FulfillmentChoice(option_id, "$.fulfillment_option_id"),)


def _lines(items: Sequence[Item]) -> tuple[LineInput, ...]:
    return tuple(
        LineInput(item.id, Decimal(item.quantity), f"$.items[{i}]") for i, item in enumerate(items)
    )


class Codec2025(Codec):
    version = VERSION
    traits = BY_VERSION[VERSION]
    policy_link = "seller_shop_policies"  # the link type of the return policy

    # requests -----------------------------------------------------------------
    def parse_create(self, sent: Body) -> CreateSession:
        body = parse(req.CreateRequest, sent)
        ship_to = body.fulfillment_address
        return self._create(body, _fulfillment(ship_to) if ship_to else None)

    def parse_update(self, sent: Body) -> UpdateSession:
        body = parse(req.UpdateRequest, sent)
        return self._update(
            body,
            given(body, "fulfillment_address", _fulfillment),
            given(body, "fulfillment_option_id", _choice),
        )

    def parse_complete(self, sent: Body) -> CompleteSession:
        return self._complete(parse(req.CompleteRequest, sent))

    def parse_cancel(self, sent: Body) -> CancelSession:
        # This version's cancel has no body; anything sent is ignored.
        return CancelSession()

    def _create(self, body: Cart, fulfillment: model.FulfillmentDetails | None) -> CreateSession:
        items = body.items or ()
        check_line_count(len(items), self.storefront.max_line_items, "$.items")
        return CreateSession(
            currency=None,
            lines=_lines(items),
            buyer=_buyer(body.buyer) if body.buyer else None,
            fulfillment=fulfillment,
            # No `capabilities.interventions` to ask: where the version has 3-D
            # Secure, its agents are taken as able to authenticate.
            interventions=("3ds",) if self.traits.three_ds else (),
            attribution=attribution_of(getattr(body, "affiliate_attribution", None), "first"),
        )

    def _update(
        self,
        body: Cart,
        fulfillment: Maybe[model.FulfillmentDetails | None],
        choices: Maybe[tuple[FulfillmentChoice, ...] | None],
    ) -> UpdateSession:
        if body.items is not None:
            check_line_count(len(body.items), self.storefront.max_line_items, "$.items")
        return UpdateSession(
            buyer=given(body, "buyer", _buyer),
            lines=_lines(body.items) if body.items is not None else UNSET,
            fulfillment=fulfillment,
            fulfillment_choices=choices,
        )

    @staticmethod
    def _complete(
        body: req.CompleteRequest, authentication: dict[str, Any] | None = None
    ) -> CompleteSession:
        return CompleteSession(
            payment=PaymentCredential(body.payment_data.token, body.payment_data.provider),
            buyer=_buyer(body.buyer) if body.buyer else UNSET,
            authentication_result=authentication,
            attribution=attribution_of(getattr(body, "affiliate_attribution", None), "last"),
        )

    # responses ------------------------------------------------------------------
    def _line(self, pl: PricedLine) -> JSON:
        return {
            "id": pl.line.id,
            "item": {"id": pl.line.product_id, "quantity": number(pl.line.quantity)},
            "base_amount": pl.base,
            "discount": pl.discount,
            "subtotal": pl.subtotal,
            "tax": pl.tax,
            "total": pl.total,
        }

    def _option(self, option: FulfillmentOption) -> JSON:
        body: JSON = {
            "type": option.type,
            "id": option.id,
            "title": option.title,
            "subtitle": option.description,
        }
        if option.type == "shipping":
            body["carrier"] = option.carrier
            if option.earliest_delivery and option.latest_delivery:
                body["earliest_delivery_time"] = timestamp(option.earliest_delivery)
                body["latest_delivery_time"] = timestamp(option.latest_delivery)
        body.update(subtotal=option.subtotal, tax=option.tax, total=option.total)
        return body

    def _status(self, status: model.Status) -> str:
        return status.value if status.value in self.traits.statuses else SHOWN_AS[status.value]

    def _param(self, path: str | None) -> str | None:
        """Message paths of the canonical model, in this version's field names."""
        if path is None:
            return None
        if (
            path.startswith("$.fulfillment_details")
            and self.traits.fulfillment == "fulfillment_address"
        ):
            return "$.fulfillment_address"
        if path.startswith("$.line_items[") and path.endswith(".quantity"):
            return path.removesuffix(".quantity") + ".item.quantity"
        return path

    def _message(self, message: model.Message) -> JSON:
        if message.type is model.MessageType.ERROR:
            code = CODE_ALIASES.get(message.code or "", message.code)
            code = code if code in self.traits.error_codes else "invalid"
            body: JSON = {"type": "error", "code": code}
        else:
            body = {"type": "info"}  # this family has no warnings
        param = self._param(message.param)
        if param is not None:
            body["param"] = param
        body["content_type"] = "plain"
        body["content"] = message.content
        return body

    def _messages(self, session: model.Session, quote: Quote) -> list[JSON]:
        messages = [self._message(m) for m in quote.messages]
        if session.status is model.Status.EXPIRED and "expired" not in self.traits.statuses:
            messages.append(dict(EXPIRED_NOTICE))
        return messages

    @staticmethod
    def _buyer_json(buyer: model.Buyer) -> JSON | None:
        first, last = buyer.first_name, buyer.last_name
        if (first is None or last is None) and buyer.full_name:
            first, _, last = buyer.full_name.partition(" ")
        if not first or not last or buyer.email is None:
            return None
        body: JSON = {"first_name": first, "last_name": last, "email": buyer.email}
        if buyer.phone_number is not None:
            body["phone_number"] = buyer.phone_number
        return body

    def _payment(self, session: model.Session) -> JSON:
        """The members that declare how to pay."""
        return {"payment_provider": {"provider": "stripe", "supported_payment_methods": ["card"]}}

    def _fulfillment_json(self, details: model.FulfillmentDetails) -> JSON:
        if details.address is None:
            return {}
        return {"fulfillment_address": address(details.address, with_company=False)}

    def _selection(self, quote: Quote) -> JSON:
        option = quote.selected or quote.digital
        return {"fulfillment_option_id": option.id} if option is not None else {}

    def render_session(self, view: SessionView) -> JSON:
        return self._render(view, with_order=self.traits.order_in_session)

    def render_completion(self, view: SessionView) -> JSON:
        return self._render(view, with_order=True)

    def _render(self, view: SessionView, *, with_order: bool) -> JSON:
        session, quote = view.session, view.quote
        body: JSON = {
            "id": session.id,
            **self._payment(session),
            "status": self._status(session.status),
            "currency": session.currency,
            "line_items": [self._line(pl) for pl in quote.lines],
            "fulfillment_options": [self._option(o) for o in quote.options],
            "totals": [total(t) for t in quote.totals if t.type in TOTAL_TYPES],
            "messages": self._messages(session, quote),
            "links": links(self.storefront.shop_url, self.policy_link),
        }
        if session.buyer is not None:
            buyer = self._buyer_json(session.buyer)
            if buyer is not None:
                body["buyer"] = buyer
        if session.fulfillment is not None:
            body.update(self._fulfillment_json(session.fulfillment))
        body.update(self._selection(quote))
        if session.status is model.Status.AUTHENTICATION_REQUIRED and self.traits.three_ds:
            body["authentication_metadata"] = authentication_metadata(
                self.storefront, session, channel=True
            )
        if with_order and session.order is not None:
            body["order"] = order_reference(session.order, self.version)
        return body
