"""The Cart API's bodies (`schema.cart.json`, from 2026-04-17): requests into an
`EditCart`, carts into JSON. A cart's line items, messages and buyer are the
checkout's (the schema refers to the checkout bundle for them), so they are
rendered by the checkout codec of the same version."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import Field

from agentic_commerce.domain.cart import CartView, EditCart
from agentic_commerce.domain.commands import LineInput
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.model import Buyer
from agentic_commerce.protocol import requests_2026_01_30 as base_req
from agentic_commerce.protocol.base import Body, check_line_count, parse, timestamp, total
from agentic_commerce.protocol.strictness import Strict
from agentic_commerce.protocol.traits import BY_VERSION
from agentic_commerce.protocol.v2026_04_17 import Codec2026, _buyer, _lines
from agentic_commerce.protocol.versions import Versions


class CartUpdateRequest(Strict):
    line_items: list[base_req.Item] = Field(min_length=1)
    buyer: base_req.Buyer | None = None


class CartCreateRequest(CartUpdateRequest):
    locale: str | None = None


class CartCodec:
    def __init__(self, checkout: Codec2026, continue_url_template: str) -> None:
        self.checkout = checkout
        self.version = checkout.version
        self.continue_url_template = continue_url_template

    @classmethod
    def newest(cls, versions: Versions, continue_url_template: str) -> CartCodec:
        """The codec of the newest version that has carts (its checkout codec renders
        their line items)."""
        version = next(v for v in versions.supported if BY_VERSION[v].carts)
        checkout = versions.by_version[version]
        assert isinstance(checkout, Codec2026)
        return cls(checkout, continue_url_template)

    def parse_create(self, sent: Body) -> EditCart:
        body = parse(CartCreateRequest, sent)
        return EditCart(*self._contents(body), locale=body.locale)

    def parse_update(self, sent: Body) -> EditCart:
        return EditCart(*self._contents(parse(CartUpdateRequest, sent)))

    @staticmethod
    def parse_cancel(sent: Body) -> None:
        """The cancel body is optional; when sent, any JSON object (its content is not used)."""
        if not sent.empty and (sent.invalid or not isinstance(sent.value, dict)):
            raise RequestRejected("invalid_json", "The request body must be a JSON object.")

    def _contents(self, body: CartUpdateRequest) -> tuple[tuple[LineInput, ...], Buyer | None]:
        limit = self.checkout.storefront.max_line_items
        check_line_count(len(body.line_items), limit, "$.line_items")
        return _lines(body.line_items), _buyer(body.buyer) if body.buyer else None

    def render(self, view: CartView) -> bytes:
        """The cart's body, rendered once per view (the bytes an idempotent answer keeps)."""
        body = view.rendered.get(self.version)
        if body is None:
            body = view.rendered[self.version] = orjson.dumps(self._json(view))
        return body

    def _json(self, view: CartView) -> dict[str, Any]:
        cart, quote = view.cart, view.quote
        body: dict[str, Any] = {
            "id": cart.id,
            "line_items": [self.checkout._line(pl) for pl in quote.lines],
            "currency": cart.currency,
            "totals": [total(t) for t in quote.totals],
            "continue_url": self.continue_url_template.format(cart_id=cart.id),
            "expires_at": timestamp(cart.expires_at),
        }
        if quote.messages:
            body["messages"] = [self.checkout._message(m) for m in quote.messages]
        if cart.buyer is not None and cart.buyer.email is not None:
            body["buyer"] = self.checkout._buyer_json(cart.buyer)
        return body
