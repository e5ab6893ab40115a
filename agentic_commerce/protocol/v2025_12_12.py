"""API version 2025-12-12: 2025-09-29 (`Codec2025`) with what 2025-12-12 changed.

- Requests (`requests_2025_12_12`): integer quantities (>= 1);
  `fulfillment_details`; the nested `selected_fulfillment_options` (`item_ids`
  may name line ids or item ids); `affiliate_attribution` on create and complete
  (accepted, never acted on nor returned); the agent's `authentication_result` on
  complete; an optional cancel body with `intent_trace` (unknown reason codes are
  read as `other`). The version has no `capabilities.interventions`: its agents
  are taken as able to do 3-D Secure.
- Responses: six statuses (`authentication_required` is its own, with
  `authentication_metadata` whose `channel.browser` the server fills with
  conservative values, see `three_ds`); `payment_provider` lists card networks;
  line items show the product's name, description, image and unit price;
  `fulfillment_details` (an Address without `company`) and the nested selection
  (`item_ids` are item ids, as the version's examples show them); the return
  policy link is `return_policy`; `order` is in every answer about a completed
  session, not only in the complete answer.
"""

from __future__ import annotations

from agentic_commerce.domain import model
from agentic_commerce.domain.commands import (
    CancelSession,
    CompleteSession,
    CreateSession,
    FulfillmentChoice,
    UpdateSession,
)
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.pricing import PricedLine, Quote
from agentic_commerce.protocol import requests_2025_12_12 as req
from agentic_commerce.protocol.base import JSON, Body, parse
from agentic_commerce.protocol.traits import BY_VERSION
from agentic_commerce.protocol.v2025_09_29 import Codec2025, given
from agentic_commerce.protocol.v2026_01_30 import Codec20260130
from agentic_commerce.protocol.v2026_04_17 import Codec2026, cancel_command, fulfillment_of

VERSION = "2025-12-12"
CARD_NETWORKS = ("amex", "discover", "mastercard", "visa")


def _choices(options: list[req.SelectedFulfillmentOption]) -> tuple[FulfillmentChoice, ...]:
    """The nested selections; the member that `type` names is required."""
    choices = []
    for index, option in enumerate(options):
        param = f"$.selected_fulfillment_options[{index}].{option.type}"
        chosen = option.shipping if option.type == "shipping" else option.digital
        if chosen is None:
            raise RequestRejected("missing_field", "Required field is missing.", param)
        item_ids = tuple(chosen.item_ids)
        choices.append(FulfillmentChoice(chosen.option_id, param, option.type, item_ids))
    return tuple(choices)


class Codec20251212(Codec2025):
    version = VERSION
    traits = BY_VERSION[VERSION]
    policy_link = "return_policy"

    # requests -----------------------------------------------------------------
    def parse_create(self, sent: Body) -> CreateSession:
        body = parse(req.CreateRequest, sent)
        details = body.fulfillment_details
        return self._create(body, fulfillment_of(details) if details else None)

    def parse_update(self, sent: Body) -> UpdateSession:
        body = parse(req.UpdateRequest, sent)
        return self._update(
            body,
            given(body, "fulfillment_details", fulfillment_of),
            given(body, "selected_fulfillment_options", _choices),
        )

    def parse_complete(self, sent: Body) -> CompleteSession:
        body = parse(req.CompleteRequest, sent)
        result = body.authentication_result
        return self._complete(
            body, result.model_dump(mode="json", exclude_none=True) if result else None
        )

    def parse_cancel(self, sent: Body) -> CancelSession:
        return cancel_command(sent)

    # responses ------------------------------------------------------------------
    def _line(self, pl: PricedLine) -> JSON:
        body = super()._line(pl)
        body["item"]["quantity"] = max(1, int(pl.line.quantity))  # an integer >= 1 here
        product = pl.product
        if product is not None:
            body.update(name=product.title, unit_amount=product.unit_amount)
            if product.description:
                body["description"] = product.description
            if product.image_url:
                body["images"] = [product.image_url]
        return body

    def _payment(self, session: model.Session) -> JSON:
        methods = [{"type": "card", "supported_card_networks": list(CARD_NETWORKS)}]
        return {"payment_provider": {"provider": "stripe", "supported_payment_methods": methods}}

    def _fulfillment_json(self, details: model.FulfillmentDetails) -> JSON:
        # The FulfillmentDetails of 2026-01-30, whose Address has no `company` either.
        return {"fulfillment_details": Codec20260130._fulfillment_json(details)}

    def _selection(self, quote: Quote) -> JSON:
        item_of = {pl.line.id: pl.line.product_id for pl in quote.lines}
        selected = [
            {
                "type": flat["type"],
                flat["type"]: {
                    "option_id": flat["option_id"],
                    "item_ids": [item_of[line_id] for line_id in flat["item_ids"]],
                },
            }
            for flat in Codec2026._selected(quote)
        ]
        return {"selected_fulfillment_options": selected} if selected else {}
