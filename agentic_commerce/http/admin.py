"""The operators' API under `/admin`: orders and their lifecycle, the webhook outbox,
the live actors and the supervision tree.

Guarded by `Authorization: Bearer <ADMIN_API_KEY>` (separate from merchant keys);
without that setting every admin route answers 404. Wrong keys count against the
caller's address (`throttle.py`: 429 with `Retry-After` past the limit). Admin
routes are not ACP routes: no API-Version, Idempotency-Key or request signature is
asked for. The admin page (`admin_ui`) opens a few paths of its own, which
authenticate with its cookie instead (`AdminGuard.open_paths`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
from dataclasses import replace
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field
from quart import Quart, Response, request

from agentic_commerce.actors.system import ActorInfo, ActorSystem
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.view import SessionView
from agentic_commerce.http.context import read_body
from agentic_commerce.http.gateway import Call, SessionGateway, render_reply
from agentic_commerce.http.responses import JSON_TYPE, json_response
from agentic_commerce.http.throttle import AuthThrottle
from agentic_commerce.protocol.base import Body, Storefront, parse, timestamp
from agentic_commerce.protocol.orders import operator_view
from agentic_commerce.protocol.v2026_04_17 import Codec2026
from agentic_commerce.store.base import OutboxEvent

log = structlog.get_logger("agentic_commerce.admin")
EVENT_STATES = ("pending", "in_flight", "delivered", "dead")
ACTOR_STATUSES = ("busy", "idle")
REDACTED = "[redacted]"
# Field names that may carry a secret, wherever they appear (agents' metadata included).
SECRET_FIELD = re.compile(
    r"token|secret|passw|credential|authorization|signature|cvc|cvv|pending_payment|(^|_)key$",
    re.IGNORECASE,
)


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
    """Constant-time check of the admin key; no key configured means no admin API.

    `open_paths` skip the Bearer check (never the 404): the admin page's own
    routes, which authenticate with its cookie or are its sign-in form.
    """

    def __init__(self, key: str | None) -> None:
        self._key = key.encode() if key else None
        self._digest = hashlib.sha256(self._key).digest() if self._key else None
        self.open_paths: set[str] = set()

    @property
    def configured(self) -> bool:
        return self._digest is not None

    def matches(self, key: str) -> bool:
        """Whether `key` is the admin key (digests compared, so in constant time)."""
        given = hashlib.sha256(key.encode()).digest()
        return self._digest is not None and hmac.compare_digest(given, self._digest)

    def mac(self, message: bytes) -> bytes:
        """HMAC-SHA256 keyed with the admin key: credentials derived from it
        (the page's cookie) that are not the key and die with it."""
        if self._key is None:
            raise RequestRejected("not_found", "Not found.", None, status=404)
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def check(self, path: str, authorization: str | None) -> None:
        if self._digest is None:
            raise RequestRejected("not_found", "Not found.", None, status=404)
        if path in self.open_paths:
            return
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not self.matches(key.strip()):
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


def redact(value: Any) -> Any:
    """A copy of a JSON value with every secret-looking field's value replaced."""
    if isinstance(value, dict):
        return {
            k: REDACTED if SECRET_FIELD.search(k) and v is not None else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def actor_json(info: ActorInfo) -> dict[str, Any]:
    return dataclasses.asdict(info)


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
        session = view.session
        body["internal"] = {
            "merchant_id": session.merchant_id,
            "api_version": session.api_version,
            "store_version": session.version,
            "pending_payment": REDACTED if session.pending_payment else None,
        }
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

    @app.before_request
    async def admin_only() -> None:
        if not request.path.startswith("/admin"):
            return
        authorization = request.headers.get("Authorization")
        if not guard.configured or request.path in guard.open_paths:
            guard.check(request.path, authorization)  # 404 without a key; the page's paths pass
            return
        client = throttle.admit()  # a guesser waits before its key is looked at
        try:
            guard.check(request.path, authorization)
        except RequestRejected:
            if authorization:  # no key sent: not a guess
                await throttle.failed(client)
            raise

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
    async def get_order(order_id: str) -> Response:
        order = await store.load_order(order_id)
        if order is None:
            raise RequestRejected("not_found", "Order not found.", None, status=404)
        return json_response(operator_view(order))

    @app.post("/admin/orders/<order_id>")
    async def change_order(order_id: str) -> Response:
        status = parse(StatusChange, Body.read(await read_body()))
        shipment = status.model_dump(include={"carrier", "tracking_number", "tracking_url"})
        shipment = {k: v for k, v in shipment.items() if v is not None}
        params = {"status": status.status, "shipment": shipment or None}
        return await change(order_id, "order_status", params)

    @app.post("/admin/orders/<order_id>/refunds")
    async def refund_order(order_id: str) -> Response:
        refund = parse(RefundRequest, Body.read(await read_body()))
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
    async def replay_webhook(event_id: str) -> Response:
        event = await store.load_event(event_id)
        if event is None:
            raise RequestRejected("not_found", "Event not found.", None, status=404)
        again = replace(event, state="pending", attempts=0, next_attempt_at=None, last_error=None)
        await store.save_event(again)
        system.nudge_webhooks()
        return json_response(event_json(again))

    @app.get("/admin/actors")
    async def list_actors() -> Response:
        infos = live_actors(system, request.args.get("kind"), request.args.get("status"))
        return json_response({"count": len(infos), "actors": [actor_json(i) for i in infos]})

    @app.get("/admin/actors/<actor_id>")
    async def get_actor(actor_id: str) -> Response:
        return json_response(actor_state(system, codec, actor_id))

    @app.post("/admin/actors/<actor_id>/kill")
    async def kill_actor(actor_id: str) -> Response:
        """Chaos testing: crash one actor; its supervisor restarts it from committed state."""
        if not system.settings.admin_allow_kill:
            raise RequestRejected("kill_disabled", "Killing actors is disabled.", None, status=403)
        if not system.kill(actor_id):
            raise RequestRejected("not_found", "Actor not found.", None, status=404)
        log.warning("actor_killed_by_operator", actor=actor_id)
        return json_response({"id": actor_id, "killed": True}, status=202)

    @app.get("/admin/supervisor")
    async def supervisor() -> Response:
        return json_response(system.supervision_tree())
