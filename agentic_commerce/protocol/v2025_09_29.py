"""API version 2025-09-29: the first release, still spoken by deployed agents.

Differences from the canonical (newest) model that this codec bridges:
- requests send `items[{id, quantity}]` (quantity any number > 0 in the current
  text; a non-whole quantity is reported as an `invalid` message),
  `fulfillment_address` and `fulfillment_option_id`; no currency;
- five statuses: `expired` shows as `canceled` with an info message,
  `authentication_required` as `not_ready_for_payment`, `complete_in_progress`
  as `in_progress`;
- line items carry flat amounts; messages have six error codes (others become
  `invalid`); the order is `{id, checkout_session_id, permalink_url}`;
- Buyer needs first and last name: a buyer without them is not shown.
"""

from __future__ import annotations

from agentic_commerce.domain import model
from agentic_commerce.domain.commands import (
    UNSET,
    CancelSession,
    CompleteSession,
    CreateSession,
    FulfillmentChoice,
    LineInput,
    PaymentCredential,
    UpdateSession,
)
from agentic_commerce.domain.pricing import PricedLine
from agentic_commerce.domain.shipping import FulfillmentOption
from agentic_commerce.domain.view import SessionView
from agentic_commerce.protocol import requests_2025_09_29 as req
from agentic_commerce.protocol.base import (
    JSON,
    Codec,
    address,
    check_line_count,
    number,
    parse,
    timestamp,
    to_address,
    total,
)

VERSION = "2025-09-29"
ERROR_CODES = frozenset(
    {"missing", "invalid", "out_of_stock", "payment_declined", "requires_sign_in", "requires_3ds"}
)
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
STATUS = {
    model.Status.NOT_READY_FOR_PAYMENT: "not_ready_for_payment",
    model.Status.READY_FOR_PAYMENT: "ready_for_payment",
    model.Status.AUTHENTICATION_REQUIRED: "not_ready_for_payment",
    model.Status.COMPLETE_IN_PROGRESS: "in_progress",
    model.Status.COMPLETED: "completed",
    model.Status.CANCELED: "canceled",
    model.Status.EXPIRED: "canceled",
}
EXPIRED_NOTICE = {
    "type": "info",
    "content_type": "plain",
    "content": "This checkout session expired.",
}


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


def _lines(items: list[req.Item]) -> tuple[LineInput, ...]:
    return tuple(LineInput(item.id, item.quantity, f"$.items[{i}]") for i, item in enumerate(items))


CODE_ALIASES = {"intervention_required": "requires_3ds"}


def _param(path: str | None) -> str | None:
    """Message paths of the canonical model, in this version's field names."""
    if path is None:
        return None
    if path.startswith("$.fulfillment_details"):
        return "$.fulfillment_address"
    if path.startswith("$.line_items[") and path.endswith(".quantity"):
        return path.removesuffix(".quantity") + ".item.quantity"
    return path


class Codec2025(Codec):
    version = VERSION

    # requests -----------------------------------------------------------------
    def parse_create(self, raw: bytes) -> CreateSession:
        body = parse(req.CreateRequest, raw)
        check_line_count(len(body.items), self.storefront.max_line_items, "$.items")
        return CreateSession(
            currency=None,
            lines=_lines(body.items),
            buyer=_buyer(body.buyer) if body.buyer else None,
            fulfillment=(
                _fulfillment(body.fulfillment_address) if body.fulfillment_address else None
            ),
        )

    def parse_update(self, raw: bytes) -> UpdateSession:
        body = parse(req.UpdateRequest, raw)
        if body.items is not None:
            check_line_count(len(body.items), self.storefront.max_line_items, "$.items")
        sent = body.model_fields_set
        choices: tuple[FulfillmentChoice, ...] | None = None
        if body.fulfillment_option_id is not None:
            choices = (FulfillmentChoice(body.fulfillment_option_id, "$.fulfillment_option_id"),)
        return UpdateSession(
            buyer=(_buyer(body.buyer) if body.buyer else None) if "buyer" in sent else UNSET,
            lines=_lines(body.items) if body.items is not None else UNSET,
            fulfillment=(
                (_fulfillment(body.fulfillment_address) if body.fulfillment_address else None)
                if "fulfillment_address" in sent
                else UNSET
            ),
            fulfillment_choices=choices if "fulfillment_option_id" in sent else UNSET,
        )

    def parse_complete(self, raw: bytes) -> CompleteSession:
        body = parse(req.CompleteRequest, raw)
        return CompleteSession(
            payment=PaymentCredential(body.payment_data.token, body.payment_data.provider),
            buyer=_buyer(body.buyer) if body.buyer else UNSET,
        )

    def parse_cancel(self, raw: bytes) -> CancelSession:
        # This version's cancel has no body; anything sent is ignored.
        return CancelSession()

    # responses ------------------------------------------------------------------
    @staticmethod
    def _line(pl: PricedLine) -> JSON:
        return {
            "id": pl.line.id,
            "item": {"id": pl.line.product_id, "quantity": number(pl.line.quantity)},
            "base_amount": pl.base,
            "discount": pl.discount,
            "subtotal": pl.subtotal,
            "tax": pl.tax,
            "total": pl.total,
        }

    @staticmethod
    def _option(option: FulfillmentOption) -> JSON:
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

    @staticmethod
    def _message(message: model.Message) -> JSON:
        if message.type is model.MessageType.ERROR:
            code = CODE_ALIASES.get(message.code or "", message.code)
            code = code if code in ERROR_CODES else "invalid"
            body: JSON = {"type": "error", "code": code}
        else:
            body = {"type": "info"}  # this version has no warnings
        param = _param(message.param)
        if param is not None:
            body["param"] = param
        body["content_type"] = "plain"
        body["content"] = message.content
        return body

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

    def render_session(self, view: SessionView) -> JSON:
        session, quote = view.session, view.quote
        messages = [self._message(m) for m in quote.messages]
        if session.status is model.Status.EXPIRED:
            messages.append(dict(EXPIRED_NOTICE))
        shop = self.storefront.shop_url
        body: JSON = {
            "id": session.id,
            "payment_provider": {"provider": "stripe", "supported_payment_methods": ["card"]},
            "status": STATUS[session.status],
            "currency": session.currency,
            "line_items": [self._line(pl) for pl in quote.lines],
            "fulfillment_options": [self._option(o) for o in quote.options],
            "totals": [total(t) for t in quote.totals if t.type in TOTAL_TYPES],
            "messages": messages,
            "links": [
                {"type": "terms_of_use", "url": f"{shop}/legal/terms"},
                {"type": "privacy_policy", "url": f"{shop}/legal/privacy"},
                {"type": "seller_shop_policies", "url": f"{shop}/legal/returns"},
            ],
        }
        if session.buyer is not None:
            buyer = self._buyer_json(session.buyer)
            if buyer is not None:
                body["buyer"] = buyer
        if session.fulfillment is not None and session.fulfillment.address is not None:
            body["fulfillment_address"] = address(session.fulfillment.address, with_company=False)
        if quote.selected is not None:
            body["fulfillment_option_id"] = quote.selected.id
        elif quote.digital is not None:
            body["fulfillment_option_id"] = quote.digital.id
        if session.order is not None:
            body["order"] = {
                "id": session.order.id,
                "checkout_session_id": session.order.checkout_session_id,
                "permalink_url": session.order.permalink_url,
            }
        return body
