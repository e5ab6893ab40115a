"""The operators' API under `/admin`: orders and their lifecycle, the webhook outbox.

Guarded by `Authorization: Bearer <ADMIN_API_KEY>` (separate from merchant keys);
without that setting every admin route answers 404. Admin routes are not ACP
routes: no API-Version, Idempotency-Key or request signature is asked for.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from quart import Quart, Response, request

from agentic_commerce.actors.runtime import ActorError
from agentic_commerce.actors.session import RefundOrder, SessionView, SetOrderStatus
from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.model import Shipment
from agentic_commerce.http.codecs.base import parse, timestamp
from agentic_commerce.http.codecs.orders import order_2026
from agentic_commerce.http.context import read_body
from agentic_commerce.http.errors import from_actor_error
from agentic_commerce.http.responses import json_response
from agentic_commerce.store.base import OutboxEvent

EVENT_STATES = ("pending", "in_flight", "delivered", "dead")


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=512)
    status: Literal["confirmed", "shipped", "completed", "canceled"]
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = Field(default=None, pattern=r"^https?://")


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=512)
    amount: int
    type: Literal["original_payment", "store_credit"] = "original_payment"
    reason: str | None = None


class AdminGuard:
    """Constant-time check of the admin key; no key configured means no admin API."""

    def __init__(self, key: str | None) -> None:
        self._digest = hashlib.sha256(key.encode()).digest() if key else None

    def check(self, authorization: str | None) -> None:
        if self._digest is None:
            raise RequestRejected("not_found", "Not found.", None, status=404)
        scheme, _, key = (authorization or "").partition(" ")
        given = hashlib.sha256(key.strip().encode()).digest()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given, self._digest):
            raise RequestRejected("invalid_admin_key", "Admin key required.", None, status=401)


def event_json(event: OutboxEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "session_id": event.session_id,
        "order_id": event.order_id,
        "api_version": event.api_version,
        "state": event.state,
        "attempts": event.attempts,
        "created_at": timestamp(event.created_at),
        "next_attempt_at": timestamp(event.next_attempt_at) if event.next_attempt_at else None,
        "last_error": event.last_error,
    }


def register_admin(app: Quart, system: ActorSystem, guard: AdminGuard) -> None:
    store = system.store
    timeout = system.settings.ask_timeout_seconds

    @app.before_request
    async def admin_only() -> None:
        if request.path.startswith("/admin"):
            guard.check(request.headers.get("Authorization"))

    async def order_session(order_id: str) -> str:
        order = await store.load_order(order_id)
        if order is None:
            raise RequestRejected("not_found", "Order not found.", None, status=404)
        return order.checkout_session_id

    async def ask(session_id: str, message: Any) -> SessionView:
        try:
            reply = await system.sessions.ref(session_id).ask(message, timeout)
        except ActorError as exc:
            raise from_actor_error(exc) from None
        if isinstance(reply, RequestRejected):
            raise reply
        assert isinstance(reply, SessionView) and reply.session.order is not None
        return reply

    def order_response(view: SessionView) -> Response:
        assert view.session.order is not None
        body = order_2026(view.session.order)
        body["api_version"] = view.session.api_version
        return json_response(body)

    @app.get("/admin/orders/<order_id>")
    async def get_order(order_id: str) -> Response:
        order = await store.load_order(order_id)
        if order is None:
            raise RequestRejected("not_found", "Order not found.", None, status=404)
        return json_response(order_2026(order))

    @app.post("/admin/orders/<order_id>")
    async def change_order(order_id: str) -> Response:
        change = parse(StatusChange, await read_body())
        details = (change.carrier, change.tracking_number, change.tracking_url)
        shipment = Shipment(*details) if any(details) else None
        session_id = await order_session(order_id)
        return order_response(await ask(session_id, SetOrderStatus(change.status, shipment)))

    @app.post("/admin/orders/<order_id>/refunds")
    async def refund_order(order_id: str) -> Response:
        refund = parse(RefundRequest, await read_body())
        session_id = await order_session(order_id)
        message = RefundOrder(refund.amount, refund.type, refund.reason)
        return order_response(await ask(session_id, message))

    @app.get("/admin/webhooks")
    async def list_webhooks() -> Response:
        state = request.args.get("state")
        if state is not None and state not in EVENT_STATES:
            raise RequestRejected("invalid_state", f"state must be one of {EVENT_STATES}.")
        limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), 1000)
        events = await store.list_events(state, limit=limit)
        counts = await store.outbox_counts()
        return json_response({"counts": counts, "events": [event_json(e) for e in events]})

    @app.post("/admin/webhooks/<event_id>/replay")
    async def replay_webhook(event_id: str) -> Response:
        event = await store.load_event(event_id)
        if event is None:
            raise RequestRejected("not_found", "Event not found.", None, status=404)
        again = replace(event, state="pending", attempts=0, next_attempt_at=None, last_error=None)
        await store.save_event(again)
        system.nudge_webhooks()
        return json_response(event_json(again))
