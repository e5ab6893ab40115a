"""API version 2026-04-17: the newest released version, rendered in full.

2026-01-30 (`v2026_01_30`) is this codec minus what 2026-04-17 added; the
pieces it changes are the methods it overrides here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from agentic_commerce.domain import model, validation
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
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.pricing import PricedLine, Quote
from agentic_commerce.domain.shipping import FulfillmentOption
from agentic_commerce.domain.view import SessionView
from agentic_commerce.protocol import discounts
from agentic_commerce.protocol import requests_2026_01_30 as base_req
from agentic_commerce.protocol import requests_2026_04_17 as req
from agentic_commerce.protocol.base import (
    JSON,
    Body,
    Codec,
    address,
    attribution_of,
    check_line_count,
    check_text,
    consents_of,
    links,
    parse,
    timestamp,
    to_address,
    total,
)
from agentic_commerce.protocol.orders import order_2026
from agentic_commerce.protocol.three_ds import authentication_metadata

VERSION = "2026-04-17"
CARD_HANDLER_ID = "card_tokenized"
SELLER_INTERVENTIONS: tuple[str, ...] = ("3ds",)
KNOWN_REASON_CODES = frozenset(
    {
        "price_sensitivity",
        "shipping_cost",
        "shipping_speed",
        "product_fit",
        "trust_security",
        "returns_policy",
        "payment_options",
        "comparison",
        "timing_deferred",
        "other",
    }
)


def _buyer(value: base_req.Buyer) -> model.Buyer:
    extra = value.model_dump(
        mode="json",
        include={
            "customer_id",
            "account_type",
            "authentication_status",
            "company",
            "loyalty",
            "tax_exemption",
        },
        exclude_none=True,
    )
    return model.Buyer(
        email=value.email,
        first_name=value.first_name,
        last_name=value.last_name,
        full_name=value.full_name,
        phone_number=value.phone_number,
        extra=extra,
    )


def fulfillment_of(value: base_req.FulfillmentDetails) -> model.FulfillmentDetails:
    path = "$.fulfillment_details.address"
    return model.FulfillmentDetails(
        name=value.name,
        phone_number=value.phone_number,
        email=value.email,
        address=to_address(value.address, path) if value.address is not None else None,
    )


def _lines(items: list[base_req.Item]) -> tuple[LineInput, ...]:
    return tuple(
        LineInput(item.id, Decimal(item.quantity), f"$.line_items[{i}]")
        for i, item in enumerate(items)
    )


def _choices(options: list[base_req.SelectedFulfillmentOption]) -> tuple[FulfillmentChoice, ...]:
    return tuple(
        FulfillmentChoice(
            option_id=o.option_id,
            param=f"$.selected_fulfillment_options[{i}]",
            type=o.type,
            item_ids=tuple(o.item_ids),
        )
        for i, o in enumerate(options)
    )


def cancel_command(sent: Body) -> CancelSession:
    """The optional cancel body of every version from 2025-12-12 on."""
    if sent.empty:
        return CancelSession()
    body = parse(base_req.CancelRequest, sent)
    if body.intent_trace is None:
        return CancelSession()
    check_text(body.intent_trace.trace_summary, "$.intent_trace.trace_summary")
    code = body.intent_trace.reason_code
    return CancelSession(code if code in KNOWN_REASON_CODES else "other")


def _order_notes(body: BaseModel) -> str | None:
    """`order_notes`: only the request models of 2026-04-17 have the field."""
    notes: str | None = getattr(body, "order_notes", None)
    return check_text(notes, "$.order_notes")


class Codec2026(Codec):
    version = VERSION
    create_request: type[base_req.CreateRequest] = req.CreateRequest
    update_request: type[base_req.UpdateRequest] = req.UpdateRequest
    complete_request: type[base_req.CompleteRequest] = req.CompleteRequest

    # requests -----------------------------------------------------------------
    def parse_create(self, sent: Body) -> CreateSession:
        body = parse(self.create_request, sent)
        check_line_count(len(body.line_items), self.storefront.max_line_items, "$.line_items")
        if not validation.is_currency(body.currency):
            raise RequestRejected(
                "invalid_field", "currency must be an ISO 4217 code.", "$.currency"
            )
        interventions: tuple[str, ...] = ()
        if body.capabilities.interventions and body.capabilities.interventions.supported:
            interventions = tuple(body.capabilities.interventions.supported)
        return CreateSession(
            currency=body.currency,
            lines=_lines(body.line_items),
            buyer=_buyer(body.buyer) if body.buyer else None,
            fulfillment=fulfillment_of(body.fulfillment_details)
            if body.fulfillment_details
            else None,
            interventions=interventions,
            locale=body.locale,
            timezone=body.timezone,
            quote_id=body.quote_id,
            metadata=body.metadata,
            order_notes=_order_notes(body),
            attribution=attribution_of(body.affiliate_attribution, "first"),
            extensions=discounts.requested(body.capabilities.extensions),
            discount_codes=discounts.codes(body.discounts, body.coupons),
        )

    def parse_update(self, sent: Body) -> UpdateSession:
        body = parse(self.update_request, sent)
        if body.line_items is not None:
            check_line_count(len(body.line_items), self.storefront.max_line_items, "$.line_items")
        given = body.model_fields_set
        return UpdateSession(
            buyer=(_buyer(body.buyer) if body.buyer else None) if "buyer" in given else UNSET,
            lines=_lines(body.line_items or []) if body.line_items is not None else UNSET,
            fulfillment=(
                (fulfillment_of(body.fulfillment_details) if body.fulfillment_details else None)
                if "fulfillment_details" in given
                else UNSET
            ),
            fulfillment_choices=(
                _choices(body.selected_fulfillment_options or [])
                if "selected_fulfillment_options" in given
                else UNSET
            ),
            order_notes=_order_notes(body) if "order_notes" in given else UNSET,
            discount_codes=(
                discounts.codes(body.discounts, body.coupons)
                if given & {"discounts", "coupons"}
                else UNSET
            ),
        )

    def parse_complete(self, sent: Body) -> CompleteSession:
        body = parse(self.complete_request, sent)
        payment = body.payment_data
        if payment.handler_id is None or payment.instrument is None:
            if payment.purchase_order_number is not None:
                raise RequestRejected(
                    "unsupported_payment_method",
                    "Purchase orders are not accepted; pay with a payment handler.",
                    "$.payment_data.purchase_order_number",
                )
            raise RequestRejected(
                "missing_field",
                "payment_data needs handler_id and instrument.",
                "$.payment_data.handler_id",
            )
        if payment.handler_id != CARD_HANDLER_ID:
            raise RequestRejected(
                "invalid_handler",
                "handler_id does not name a payment handler of this session.",
                "$.payment_data.handler_id",
            )
        return CompleteSession(
            payment=PaymentCredential(payment.instrument.credential.token, payment.handler_id),
            buyer=_buyer(body.buyer) if body.buyer else UNSET,
            authentication_result=(
                body.authentication_result.model_dump(mode="json", exclude_none=True)
                if body.authentication_result
                else None
            ),
            order_notes=_order_notes(body),
            attribution=attribution_of(body.affiliate_attribution, "last"),
            marketing_consents=consents_of(getattr(body, "marketing_consents", None)),
        )

    def parse_cancel(self, sent: Body) -> CancelSession:
        return cancel_command(sent)

    # responses ------------------------------------------------------------------
    def _handler(self, merchant_id: str) -> JSON:
        return {
            "id": CARD_HANDLER_ID,
            "name": "dev.acp.tokenized.card",
            "display_name": "Card",
            "version": "2026-01-22",
            "spec": "https://acp.dev/handlers/tokenized.card",
            "requires_delegate_payment": True,
            "requires_pci_compliance": False,
            "psp": "stripe",
            "config_schema": "https://acp.dev/schemas/handlers/tokenized.card/config.json",
            "instrument_schemas": [
                "https://acp.dev/schemas/handlers/tokenized.card/instrument.json"
            ],
            "config": {
                "merchant_id": self.storefront.psp_accounts(merchant_id),
                "psp": "stripe",
                "accepted_brands": ["visa", "mastercard", "amex", "discover"],
                "accepted_funding_types": ["credit", "debit", "prepaid"],
                "supports_3ds": "3ds" in SELLER_INTERVENTIONS,
                "environment": self.storefront.environment,
            },
            "display_order": 0,
        }

    def _line(self, pl: PricedLine) -> JSON:
        product = pl.product
        body: JSON = {
            "id": pl.line.id,
            "item": {"id": pl.line.product_id},
            "quantity": max(1, int(pl.line.quantity)),
            "name": product.title if product else pl.line.product_id,
            "unit_amount": product.unit_amount if product else 0,
            "product_id": pl.line.product_id,
            "totals": [
                {"type": "items_base_amount", "display_text": "Base amount", "amount": pl.base},
                {"type": "discount", "display_text": "Discount", "amount": pl.discount},
                {"type": "subtotal", "display_text": "Subtotal", "amount": pl.subtotal},
                {"type": "tax", "display_text": "Tax", "amount": pl.tax},
                {"type": "total", "display_text": "Total", "amount": pl.total},
            ],
        }
        if product is not None:
            if product.description:
                body["description"] = product.description
            if product.image_url:
                body["images"] = [product.image_url]
            if product.sku:
                body["sku"] = product.sku
        return body

    @staticmethod
    def _option(option: FulfillmentOption) -> JSON:
        body: JSON = {
            "type": option.type,
            "id": option.id,
            "title": option.title,
            "description": option.description,
            "totals": [
                {"type": "subtotal", "display_text": "Subtotal", "amount": option.subtotal},
                {"type": "tax", "display_text": "Tax", "amount": option.tax},
                {"type": "total", "display_text": "Total", "amount": option.total},
            ],
        }
        if option.type == "shipping":
            body["carrier"] = option.carrier
            if option.earliest_delivery and option.latest_delivery:
                body["earliest_delivery_time"] = timestamp(option.earliest_delivery)
                body["latest_delivery_time"] = timestamp(option.latest_delivery)
        return body

    @staticmethod
    def _selected(quote: Quote) -> list[JSON]:
        selected = []
        for option, digital in ((quote.selected, False), (quote.digital, True)):
            if option is None:
                continue
            ids = [
                pl.line.id
                for pl in quote.lines
                if pl.product is not None and pl.product.digital is digital
            ]
            selected.append({"type": option.type, "option_id": option.id, "item_ids": ids})
        return selected

    @staticmethod
    def _message(message: model.Message) -> JSON:
        body: JSON = {"type": message.type.value}
        if message.code is not None and message.type is not model.MessageType.INFO:
            body["code"] = message.code
        if message.param is not None:
            body["param"] = message.param
        body["content_type"] = "plain"
        body["content"] = message.content
        return body

    @staticmethod
    def _buyer_json(buyer: model.Buyer) -> JSON:
        body: JSON = {"email": buyer.email}
        for key in ("first_name", "last_name", "full_name", "phone_number"):
            value = getattr(buyer, key)
            if value is not None:
                body[key] = value
        body.update(buyer.extra)
        return body

    @staticmethod
    def _fulfillment_json(details: model.FulfillmentDetails) -> JSON:
        body: JSON = {}
        for key in ("name", "phone_number", "email"):
            value = getattr(details, key)
            if value is not None:
                body[key] = value
        if details.address is not None:
            body["address"] = address(details.address, with_company=True)
        return body

    def render_session(self, view: SessionView) -> JSON:
        session, quote = view.session, view.quote
        body: dict[str, Any] = {
            "id": session.id,
            "protocol": {"version": self.version},
            "capabilities": {
                "payment": {"handlers": [self._handler(session.merchant_id)]},
                "interventions": {
                    "supported": [i for i in session.interventions if i in SELLER_INTERVENTIONS],
                    "required": [],
                    "enforcement": "conditional",
                },
            },
            "status": session.status.value,
            "currency": session.currency,
            "line_items": [self._line(pl) for pl in quote.lines],
            "fulfillment_options": [self._option(o) for o in quote.options],
            "selected_fulfillment_options": self._selected(quote),
            "totals": [total(t) for t in quote.totals],
            "messages": [self._message(m) for m in quote.messages],
            "links": self._links(),
            "created_at": timestamp(session.created_at),
            "updated_at": timestamp(session.updated_at),
            "expires_at": timestamp(session.expires_at),
        }
        if session.buyer is not None and session.buyer.email is not None:
            body["buyer"] = self._buyer_json(session.buyer)
        if session.fulfillment is not None:
            body["fulfillment_details"] = self._fulfillment_json(session.fulfillment)
        for key in ("locale", "timezone", "quote_id", "metadata"):
            value = getattr(session, key)
            if value is not None:
                body[key] = value
        if session.status is model.Status.AUTHENTICATION_REQUIRED:
            body["authentication_metadata"] = self._authentication_metadata(session)
        if extensions := discounts.declarations(session):
            body["capabilities"]["extensions"] = extensions
        if (applied := discounts.discounts_json(session, quote.discounts)) is not None:
            body["discounts"] = applied
        if options := self._marketing_consent_options(session):
            body["marketing_consent_options"] = options
        if session.order is not None:
            body["order"] = self._order(session.order)
        return body

    def _marketing_consent_options(self, session: model.Session) -> list[JSON]:
        """The merchant's channels, each with whether this buyer opted in on complete."""
        chosen = {c.channel: c.opted_in for c in session.marketing_consents}
        offered = []
        for channel, text, policy in self.storefront.marketing_consent_options:
            option: JSON = {"channel": channel, "display_text": text, "privacy_policy_url": policy}
            if channel in chosen:
                option["is_subscribed"] = chosen[channel]
            offered.append(option)
        return offered

    def _authentication_metadata(self, session: model.Session) -> JSON:
        return authentication_metadata(self.storefront, session, channel=False)

    def _order(self, order: model.Order) -> JSON:
        return order_2026(order)

    def _links(self) -> list[JSON]:
        return links(self.storefront.shop_url, "return_policy")
