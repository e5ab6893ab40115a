"""API version 2026-01-16: 2025-12-12 (`Codec20251212`) with what 2026-01-16 changed.

- `payment_provider.merchant_id`: the merchant's PSP account (as 2026-04-17's
  handler config shows it); `authentication_provider` says that the same account
  does 3-D Secure.
- Fulfillment options have a `description` and `totals[]` (2026-04-17's shape)
  instead of `subtitle` and flat amounts.
- The agent's `authentication_result` has its own outcomes, read as the domain
  names them: `authenticated`, `attempt` (attempt_acknowledged), `failed`
  (denied), `rejected`, `unavailable` (not_supported). Only the domain's
  successful outcomes complete a payment waiting for 3-D Secure.
- `authentication_metadata` is closed (no member beyond the ones rendered) and
  has no length limits: the 2025-12-12 rendering is valid as it is.
"""

from __future__ import annotations

from agentic_commerce.domain import model
from agentic_commerce.domain.commands import CompleteSession
from agentic_commerce.domain.shipping import FulfillmentOption
from agentic_commerce.protocol import requests_2026_01_16 as req
from agentic_commerce.protocol.base import JSON, Body, parse
from agentic_commerce.protocol.traits import BY_VERSION
from agentic_commerce.protocol.v2025_12_12 import Codec20251212
from agentic_commerce.protocol.v2026_04_17 import Codec2026

VERSION = "2026-01-16"
OUTCOMES = {
    "authenticated": "authenticated",
    "attempt": "attempt_acknowledged",
    "failed": "denied",
    "rejected": "rejected",
    "unavailable": "not_supported",
}


class Codec20260116(Codec20251212):
    version = VERSION
    traits = BY_VERSION[VERSION]

    def parse_complete(self, sent: Body) -> CompleteSession:
        body = parse(req.CompleteRequest, sent)
        result = body.authentication_result
        if result is None:
            return self._complete(body)
        read = result.model_dump(mode="json", exclude_none=True)
        return self._complete(body, {**read, "outcome": OUTCOMES[result.outcome]})

    def _payment(self, session: model.Session) -> JSON:
        body = super()._payment(session)
        account = self.storefront.psp_accounts(session.merchant_id)
        body["payment_provider"]["merchant_id"] = account
        body["authentication_provider"] = {
            "provider": "stripe",
            "merchant_id": account,
            "supported_authentication_methods": ["3ds"],
        }
        return body

    def _option(self, option: FulfillmentOption) -> JSON:
        return Codec2026._option(option)
