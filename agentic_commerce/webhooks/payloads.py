"""Webhook event bodies: `{type, data}` with the whole order in the event's version."""

from __future__ import annotations

from typing import Any

from agentic_commerce.domain.model import Order
from agentic_commerce.protocol.orders import order_2025, order_2026
from agentic_commerce.protocol.traits import BY_VERSION

LEGACY_NAMES = {"order_create": "order_created", "order_update": "order_updated"}
RENDERERS = {"summary": order_2025, "full": order_2026}


def event_body(event_type: str, order: Order, version: str, legacy_names: bool) -> dict[str, Any]:
    name = LEGACY_NAMES.get(event_type, event_type) if legacy_names else event_type
    return {"type": name, "data": RENDERERS[BY_VERSION[version].webhook_order](order)}
