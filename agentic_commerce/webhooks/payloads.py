"""Webhook event bodies: `{type, data}` with the whole order in the event's version."""

from __future__ import annotations

from typing import Any

from agentic_commerce.domain.model import Order
from agentic_commerce.http.codecs.orders import order_2025, order_2026

LEGACY_NAMES = {"order_create": "order_created", "order_update": "order_updated"}
RENDERERS = {"2025-09-29": order_2025, "2026-04-17": order_2026}


def event_body(event_type: str, order: Order, version: str, legacy_names: bool) -> dict[str, Any]:
    name = LEGACY_NAMES.get(event_type, event_type) if legacy_names else event_type
    return {"type": name, "data": RENDERERS[version](order)}
