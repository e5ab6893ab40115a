"""What the real-process tests send: the headers and bodies of a 2026-04-17 checkout."""

from __future__ import annotations

from typing import Any

from tests.http.conftest import ADDRESS

HEADERS = {"Authorization": "Bearer api_key_demo_123", "API-Version": "2026-04-17"}
EXPRESS = {  # an update to the express shipping option
    "selected_fulfillment_options": [
        {"type": "shipping", "option_id": "shipping_express", "item_ids": ["item_123"]}
    ]
}


def pay(token: str) -> dict[str, Any]:
    """A complete body paying with a (simulated) `tok_test_...` token."""
    return {
        "payment_data": {
            "handler_id": "card_tokenized",
            "instrument": {"type": "card", "credential": {"type": "spt", "token": token}},
        }
    }


PAY = pay("tok_test_ok")


def with_address(product: str = "item_123") -> dict[str, Any]:
    """A create body that is ready for payment at once (one unit, a CA address)."""
    return {
        "currency": "usd",
        "line_items": [{"id": product}],
        "capabilities": {},
        "fulfillment_details": {"name": ADDRESS["name"], "address": ADDRESS},
    }
