"""The operators' checkout sessions: find one, cancel one, list the latest sessions
and orders.

A session is shown from the store (every answered change is committed there), in
the 2026-04-17 shape with secrets redacted. A cancel goes to the session's actor
wherever it runs, as the merchant's own cancel would (`gateway`): forwarded to the
instance that owns the session, with the same state machine and release of stock.
"""

from __future__ import annotations

from typing import Any

from quart import Quart, Response, request

from agentic_commerce.actors.session import committed_view
from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.model import Session
from agentic_commerce.domain.view import SessionView
from agentic_commerce.http.admin_audit import audited
from agentic_commerce.http.admin_views import internals, redact
from agentic_commerce.http.checkout import known
from agentic_commerce.http.gateway import Call, SessionGateway
from agentic_commerce.http.responses import json_response
from agentic_commerce.protocol.base import timestamp
from agentic_commerce.protocol.v2026_04_17 import Codec2026

LATEST_DEFAULT = 20
LATEST_MAX = 100
ORDER_SCAN = 10  # outbox events read per order listed (an order has a few updates)


def latest_limit() -> int:
    return min(max(request.args.get("limit", LATEST_DEFAULT, type=int) or 1, 1), LATEST_MAX)


def session_json(codec: Codec2026, view: SessionView) -> dict[str, Any]:
    return {**redact(codec.render_session(view)), "internal": internals(view.session)}


async def latest_sessions(system: ActorSystem, limit: int) -> list[dict[str, Any]]:
    """The newest open sessions (completed ones are in the latest orders)."""
    latest = await system.store.latest_open_sessions(limit)
    return [{"id": sid, "expires_at": timestamp(at)} for sid, at in latest]


async def latest_orders(system: ActorSystem, limit: int) -> list[dict[str, Any]]:
    """The newest orders, from the outbox (each order's `order_create` event, with
    the order as it was created)."""
    events = await system.store.list_events(None, limit=limit * ORDER_SCAN, newest_first=True)
    orders = [e.order for e in events if e.type == "order_create" and e.order is not None]
    return [
        {
            "id": order.id,
            "checkout_session_id": order.checkout_session_id,
            "created_at": timestamp(order.created_at),
            "currency": order.currency,
            "total": order.total,
        }
        for order in orders[:limit]
    ]


def register_admin_sessions(
    app: Quart, system: ActorSystem, codec: Codec2026, gateway: SessionGateway
) -> None:
    store = system.store

    async def load(session_id: str) -> Session:
        session = await store.load_session(known(session_id))
        if session is None:
            raise RequestRejected("not_found", "Checkout session not found.", None, status=404)
        return session

    @app.get("/admin/sessions")
    async def admin_latest_sessions() -> Response:
        return json_response({"sessions": await latest_sessions(system, latest_limit())})

    @app.get("/admin/orders")
    async def admin_latest_orders() -> Response:
        return json_response({"orders": await latest_orders(system, latest_limit())})

    async def shown(session: Session) -> Response:
        view = committed_view(system.session_deps, session, session.merchant_id)
        return json_response(session_json(codec, view))

    @app.get("/admin/sessions/<session_id>")
    @audited("find_session")
    async def admin_session(session_id: str) -> Response:
        return await shown(await load(session_id))

    @app.post("/admin/sessions/<session_id>/cancel")
    @audited("cancel_session")
    async def admin_cancel_session(session_id: str) -> Response:
        """The merchant's cancel, by the session's actor wherever it runs; answered
        with the session as committed."""
        session = await load(session_id)
        call = Call("cancel", codec.version, session.merchant_id)
        await gateway.call(session_id, call, codec, None)
        return await shown(await load(session_id))
