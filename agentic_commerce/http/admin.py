"""The operators' API under `/admin`: sessions and orders and their lifecycle, the
webhook outbox, stock holds, the live actors and the supervision tree (per instance).

Guarded by `Authorization: Bearer <ADMIN_API_KEY>` (separate from merchant keys), or
by the admin page's sign-in cookie with its CSRF token for changes (`admin_auth`);
without that setting every admin route answers 404. Wrong keys count against the
caller's address (`throttle.py`: 429 with `Retry-After` past the limit). Every
operator's action writes one audit line (`admin_audit`). Admin routes are not ACP
routes: no API-Version, Idempotency-Key or request signature is asked for.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from quart import Quart, Response, request

from agentic_commerce.actors.expiry import ORPHAN_HOLD_GRACE_SECONDS
from agentic_commerce.actors.system import ActorInfo, ActorSystem
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.view import SessionView
from agentic_commerce.http.admin_audit import audit_detail, audited, register_audit
from agentic_commerce.http.admin_auth import AdminAuth, AdminGuard
from agentic_commerce.http.admin_instances import register_instances
from agentic_commerce.http.admin_sessions import register_admin_sessions
from agentic_commerce.http.admin_views import actor_json, event_json, internals, redact
from agentic_commerce.http.context import read_body
from agentic_commerce.http.gateway import Call, SessionGateway, render_reply
from agentic_commerce.http.responses import JSON_TYPE, json_response
from agentic_commerce.http.throttle import AuthThrottle
from agentic_commerce.protocol.base import Body, Storefront, parse, timestamp
from agentic_commerce.protocol.orders import operator_view
from agentic_commerce.protocol.v2026_04_17 import Codec2026

EVENT_STATES = ("pending", "in_flight", "delivered", "dead")
ACTOR_STATUSES = ("busy", "idle")


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


def live_actors(
    system: ActorSystem, kind: str | None = None, status: str | None = None
) -> list[ActorInfo]:
    """The live actors, optionally of one kind and/or one status (busy | idle)."""
    if status is not None and status not in ACTOR_STATUSES:
        raise RequestRejected("invalid_status", f"status must be one of {ACTOR_STATUSES}.")
    return [
        info
        for info in system.actors()
        if (kind is None or info.kind == kind) and (status is None or info.status == status)
    ]


def actor_state(system: ActorSystem, codec: Codec2026, actor_id: str) -> dict[str, Any]:
    """One live actor's info; for a session actor also its session as the 2026-04-17
    JSON (from the actor's snapshot: no mailbox round trip), with secrets redacted."""
    info = next((i for i in system.actors() if i.id == actor_id), None)
    if info is None:
        raise RequestRejected("not_found", "Actor not found.", None, status=404)
    body = actor_json(info)
    activation = system.sessions.lookup(actor_id) if info.kind == "session" else None
    view = getattr(activation.actor, "snapshot", None) if activation else None
    if isinstance(view, SessionView):
        body["internal"] = internals(view.session)
        body["session"] = redact(codec.render_session(view))
    return body


def register_admin(
    app: Quart,
    system: ActorSystem,
    guard: AdminGuard,
    storefront: Storefront,
    gateway: SessionGateway,
    throttle: AuthThrottle,
) -> None:
    store = system.store
    codec = Codec2026(storefront)
    auth = AdminAuth(guard, store, throttle)

    @app.before_request
    async def admin_only() -> None:
        if not request.path.startswith("/admin"):
            return
        if not guard.configured:
            raise RequestRejected("not_found", "Not found.", None, status=404)
        if request.path not in guard.open_paths:  # the page's own check what they need
            await auth.authenticate()

    register_audit(app, throttle)
    register_admin_sessions(app, system, codec, gateway)
    register_instances(app, system, gateway)

    async def order_session(order_id: str) -> str:
        order = await store.load_order(order_id)
        if order is None:
            raise RequestRejected("not_found", "Order not found.", None, status=404)
        return order.checkout_session_id

    async def change(order_id: str, kind: str, params: dict[str, Any]) -> Response:
        """An order change, by the actor of the order's session wherever it runs."""
        session_id = await order_session(order_id)
        call = Call(kind, codec.version, "", params=params)
        reply = await gateway.call(session_id, call, codec, None)
        body = reply if isinstance(reply, bytes) else render_reply(call, gateway.versions, reply)
        return Response(body, 200, content_type=JSON_TYPE)

    @app.get("/admin/orders/<order_id>")
    @audited("find_order")
    async def get_order(order_id: str) -> Response:
        order = await store.load_order(order_id)
        if order is None:
            raise RequestRejected("not_found", "Order not found.", None, status=404)
        return json_response(operator_view(order))

    @app.post("/admin/orders/<order_id>")
    @audited("change_order_status")
    async def change_order(order_id: str) -> Response:
        status = parse(StatusChange, Body.read(await read_body()))
        audit_detail(order_status=status.status)
        shipment = status.model_dump(include={"carrier", "tracking_number", "tracking_url"})
        shipment = {k: v for k, v in shipment.items() if v is not None}
        params = {"status": status.status, "shipment": shipment or None}
        return await change(order_id, "order_status", params)

    @app.post("/admin/orders/<order_id>/refunds")
    @audited("refund_order")
    async def refund_order(order_id: str) -> Response:
        refund = parse(RefundRequest, Body.read(await read_body()))
        audit_detail(amount=refund.amount, refund_type=refund.type)
        params = {"amount": refund.amount, "kind": refund.type, "reason": refund.reason}
        return await change(order_id, "refund", params)

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
    @audited("replay_webhook")
    async def replay_webhook(event_id: str) -> Response:
        event = await store.load_event(event_id)
        if event is None:
            raise RequestRejected("not_found", "Event not found.", None, status=404)
        again = replace(event, state="pending", attempts=0, next_attempt_at=None, last_error=None)
        await store.save_event(again)
        system.nudge_webhooks()
        return json_response(event_json(again))

    @app.post("/admin/holds/release")
    @audited("release_orphan_holds")
    async def release_orphan_holds() -> Response:
        """What the expiry sweep does each round, now: settle the stock holds a dead
        process left (older than the sweep's grace, their session not open)."""
        older_than = system.clock.now() - timedelta(seconds=ORPHAN_HOLD_GRACE_SECONDS)
        settled = await store.release_orphan_holds(older_than)
        audit_detail(settled=settled)
        return json_response({"settled": settled, "older_than": timestamp(older_than)})

    @app.get("/admin/actors")
    async def list_actors() -> Response:
        infos = live_actors(system, request.args.get("kind"), request.args.get("status"))
        return json_response({"count": len(infos), "actors": [actor_json(i) for i in infos]})

    @app.get("/admin/actors/<actor_id>")
    async def get_actor(actor_id: str) -> Response:
        return json_response(actor_state(system, codec, actor_id))

    @app.get("/admin/supervisor")
    async def supervisor() -> Response:
        return json_response(system.supervision_tree())
