"""API version 2026-01-30: 2026-04-17 (`Codec2026`) minus what 2026-04-17 added.

- Requests (`requests_2026_01_30`): no `order_notes`, no `marketing_consents`, an
  Address without `company` (the `quantity` extension on items is kept).
- Responses: payment handlers without `display_name`/`display_order`, addresses
  without `company`; `authentication_metadata` with the `channel` this version
  requires (`three_ds`); the short Order (`orders.order_reference`: its status
  only where 2026-01-30's closed enum has a match).
- Errors never carry `supported_versions`; its Error type `request_not_idempotent`,
  optional idempotency keys, 409 conflicts and summary webhooks follow from its
  row in `traits`. (Messages without `resolution`, totals without
  `amount_refunded`, no `marketing_consent_options`: the 2026-04-17 codec sends
  none of them in a session either.)
"""

from __future__ import annotations

from agentic_commerce.domain import model
from agentic_commerce.protocol import requests_2026_01_30 as req
from agentic_commerce.protocol.base import JSON
from agentic_commerce.protocol.orders import order_reference
from agentic_commerce.protocol.three_ds import authentication_metadata
from agentic_commerce.protocol.v2026_04_17 import Codec2026

VERSION = "2026-01-30"
HANDLER_ADDED = ("display_name", "display_order")


class Codec20260130(Codec2026):
    version = VERSION
    create_request = req.CreateRequest
    update_request = req.UpdateRequest
    complete_request = req.CompleteRequest

    def _handler(self, merchant_id: str) -> JSON:
        body = super()._handler(merchant_id)
        for key in HANDLER_ADDED:
            del body[key]
        return body

    @staticmethod
    def _fulfillment_json(details: model.FulfillmentDetails) -> JSON:
        body = Codec2026._fulfillment_json(details)
        if "address" in body:
            body["address"].pop("company", None)
        return body

    def _authentication_metadata(self, session: model.Session) -> JSON:
        return authentication_metadata(self.storefront, session, channel=True)

    def _order(self, order: model.Order) -> JSON:
        return order_reference(order, self.version)

    def _marketing_consent_options(self, session: model.Session) -> list[JSON]:
        return []  # added by 2026-04-17
