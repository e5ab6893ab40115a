"""The way to a session's actor, wherever it runs.

Any instance accepts any request. When another instance runs the session's
actor, the request is forwarded to it over an internal call signed with
`INTERNAL_SECRET`; the owner parses, asks its actor and renders, exactly as if
the request had reached it first, and records the idempotent answer in its
commit. When the owner does not answer, this instance waits for the owner's
lease to lapse and takes the session over: a client sees a slower answer,
never a 5xx caused by a dead owner.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import structlog
from quart import Quart, Response, request

from agentic_commerce import tracing
from agentic_commerce.actors.ownership import Ownership, TakeOver
from agentic_commerce.actors.session import (
    Cancel,
    Complete,
    Create,
    Get,
    RefundOrder,
    SetOrderStatus,
    Update,
)
from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.domain.errors import RequestRejected, unavailable
from agentic_commerce.domain.model import Shipment
from agentic_commerce.domain.view import SessionView
from agentic_commerce.http.errors import ask_actor
from agentic_commerce.http.responses import JSON_TYPE
from agentic_commerce.protocol.base import Body, Codec
from agentic_commerce.protocol.orders import order_2026
from agentic_commerce.protocol.signing import same, timestamped_mac
from agentic_commerce.protocol.versions import Versions
from agentic_commerce.store.base import Answer

log = structlog.get_logger("agentic_commerce.gateway")
INTERNAL_PATH = "/internal/sessions/<session_id>"
FORWARD_TEMPLATE = "/internal/sessions/{session_id}"
SIGNATURE_TOLERANCE_SECONDS = 60
CONNECT_TIMEOUT_SECONDS = 1.0
KEEPALIVE_SECONDS = 1.0


NO_BODY = Body(b"")


@dataclass(frozen=True, slots=True)
class Call:
    """One request for a session's actor, in a form that can cross instances."""

    kind: str  # create | get | update | complete | cancel | order_status | refund
    version: str
    merchant_id: str
    body: Body = NO_BODY  # read once where the request arrived; its bytes cross instances
    params: dict[str, Any] | None = None  # admin calls


def build_message(call: Call, codec: Codec, answer: Answer | None) -> Any:
    match call.kind:
        case "create":
            return Create(codec.parse_create(call.body), call.merchant_id, codec.version, answer)
        case "get":
            return Get(call.merchant_id)
        case "update":
            return Update(codec.parse_update(call.body), call.merchant_id, answer)
        case "complete":
            return Complete(codec.parse_complete(call.body), call.merchant_id, answer)
        case "cancel":
            return Cancel(codec.parse_cancel(call.body), call.merchant_id, answer)
        case "order_status":
            assert call.params is not None
            shipment = call.params.get("shipment")
            return SetOrderStatus(call.params["status"], Shipment(**shipment) if shipment else None)
        case "refund":
            assert call.params is not None
            return RefundOrder(call.params["amount"], call.params["kind"], call.params["reason"])
    raise ValueError(f"unknown call kind {call.kind}")


def _sign(secret: str, timestamp: str, body: bytes) -> str:
    return timestamped_mac(secret, timestamp, body).hex()


FORBIDDEN = orjson.dumps(
    {
        "type": "invalid_request",
        "code": "forbidden",
        "message": "Internal calls need a valid signature.",
    }
)


def signed_headers(secret: str, body: bytes) -> dict[str, str]:
    """The headers of a call to a peer's internal route: a timestamp and its HMAC."""
    timestamp = str(int(time.time()))
    return {
        "Content-Type": JSON_TYPE,
        "X-ACS-Timestamp": timestamp,
        "X-ACS-Signature": _sign(secret, timestamp, body),
    }


def signed_by_peer(secret: str | None, body: bytes) -> bool:
    """The current request is a call from a peer: fresh whole-second timestamp,
    valid HMAC. The headers come from whoever reached the port, so nothing is parsed
    before the format is known (a malformed header is a refusal, never an error)."""
    timestamp = request.headers.get("X-ACS-Timestamp", "")
    signature = request.headers.get("X-ACS-Signature", "")
    if secret is None or not timestamp.isascii() or not timestamp.isdigit():
        return False
    if len(timestamp) > 12 or abs(time.time() - int(timestamp)) > SIGNATURE_TOLERANCE_SECONDS:
        return False
    return same(signature, _sign(secret, timestamp, body))


def refusal_from(status: int, body: bytes, retry_after: str | None = None) -> RequestRejected:
    """A refusal the owner rendered, raised again here (same status, fields and
    `Retry-After`: a retryable answer stays retryable across the hop)."""
    error = orjson.loads(body)
    return RequestRejected(
        error.get("code", "error"),
        error.get("message", ""),
        error.get("param"),
        status=status,
        type=error.get("type", "processing_error"),
        retry_after=int(retry_after) if retry_after and retry_after.isdigit() else None,
    )


class SessionGateway:
    def __init__(
        self,
        system: ActorSystem,
        ownership: Ownership,
        versions: Versions,
        secret: str | None,
    ) -> None:
        self.system = system
        self.ownership = ownership
        self.versions = versions
        self.secret = secret
        self.timeout = system.settings.ask_timeout_seconds
        self._client: httpx.AsyncClient | None = None

    # local ---------------------------------------------------------------------
    async def ask_local(self, session_id: str, message: Any) -> SessionView:
        reply = await ask_actor(self.system.sessions.ref(session_id), message, self.timeout)
        assert isinstance(reply, SessionView)
        return reply

    # anywhere ------------------------------------------------------------------
    async def call(
        self, session_id: str, call: Call, codec: Codec, answer: Answer | None
    ) -> SessionView | bytes:
        """The actor's reply: a view when it runs here, the rendered body when the
        owner answered (its idempotent answer is then already recorded)."""
        for _ in range(3):
            url = await self.ownership.locate(session_id)
            if url is None:
                return await self.ask_local(session_id, build_message(call, codec, answer))
            try:
                body = await self._forward(url, session_id, call, answer)
            except OwnerMoved:
                continue
            except OwnerSilent:
                outcome = await self.ownership.take_over(session_id, url)
                if outcome is TakeOver.MOVED:  # another instance took over: ask it
                    replayed = await self._recorded(answer)
                    if replayed is not None:
                        return replayed
                    continue
                if outcome is TakeOver.TIMED_OUT:
                    raise unavailable(
                        "owner_unavailable", "The session is busy elsewhere; retry shortly."
                    ) from None
                replayed = await self._recorded(answer)
                if replayed is not None:
                    return replayed
                return await self.ask_local(session_id, build_message(call, codec, answer))
            return body
        raise unavailable("owner_moving", "The session is moving between instances; retry shortly.")

    async def _recorded(self, answer: Answer | None) -> bytes | None:
        """The answer the silent owner may have committed before it went quiet."""
        if answer is None:
            return None
        stored = await self.system.store.load_idempotency(answer.scope)
        if stored is None or stored.fingerprint != answer.fingerprint:
            return None
        if stored.status >= 400:
            raise refusal_from(stored.status, stored.body)
        return stored.body

    async def _forward(self, url: str, session_id: str, call: Call, answer: Answer | None) -> bytes:
        if self.secret is None:
            raise OwnerSilent()
        spec = None  # the answer to record (its version is the call's)
        if answer is not None:
            spec = {
                "scope": answer.scope,
                "fingerprint": answer.fingerprint,
                "status": answer.status,
                "expires_at": answer.expires_at,
                "fresh": answer.fresh,
            }
        payload = orjson.dumps(
            {
                "kind": call.kind,
                "version": call.version,
                "merchant_id": call.merchant_id,
                "raw": base64.b64encode(call.body.raw).decode(),
                "params": call.params,
                "answer": spec,
            }
        )
        with tracing.http_client("POST", url, FORWARD_TEMPLATE) as span:
            try:
                path = f"/internal/sessions/{session_id}"
                response = await self.post_signed(url, path, payload)
            except httpx.HTTPError as exc:
                log.warning("owner_silent", session_id=session_id, error=type(exc).__name__)
                raise OwnerSilent() from None
            tracing.http_status(span, response.status_code)
        if response.headers.get("X-ACS-Not-Owner"):
            raise OwnerMoved()
        if not response.headers.get("X-ACS-Handled"):
            raise OwnerSilent()
        if response.status_code >= 400:
            raise refusal_from(
                response.status_code, response.content, response.headers.get("Retry-After")
            )
        return response.content

    async def post_signed(self, url: str, path: str, payload: bytes) -> httpx.Response:
        """A signed POST to a peer's internal route (raises `httpx.HTTPError`)."""
        assert self.secret is not None
        headers = signed_headers(self.secret, payload)
        tracing.inject(headers)  # the peer's spans join the current trace
        return await self._http().post(f"{url}{path}", content=payload, headers=headers)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            timeout = httpx.Timeout(self.timeout + 5, connect=CONNECT_TIMEOUT_SECONDS)
            # A pooled connection expires well before the owner's keep-alive timeout
            # (KEEP_ALIVE_SECONDS) closes it: a forwarded call never races that close.
            expiry = min(KEEPALIVE_SECONDS, self.system.settings.keep_alive_seconds / 2)
            limits = httpx.Limits(keepalive_expiry=expiry)
            self._client = httpx.AsyncClient(timeout=timeout, limits=limits)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class OwnerSilent(Exception):
    """The owner did not answer (connection refused, timeout)."""


class OwnerMoved(Exception):
    """The instance asked is no longer the owner: locate again."""


ADMIN_KINDS = frozenset({"order_status", "refund"})


def render_reply(call: Call, versions: Versions, view: SessionView) -> bytes:
    """What a call answers: the session in the caller's version (from the view's
    cache, so an idempotent answer is the bytes its record holds), or for the
    operators' order calls the order (2026-04-17 shape)."""
    if call.kind in ADMIN_KINDS:
        assert view.session.order is not None
        body = order_2026(view.session.order)
        body["api_version"] = view.session.api_version
        return orjson.dumps(body)
    return versions.render(call.version, view, complete=call.kind == "complete")


def register_internal(app: Quart, gateway: SessionGateway) -> None:
    """The owner's side of a forwarded call."""

    @app.post(INTERNAL_PATH)
    async def internal_call(session_id: str) -> Response:
        payload = await request.get_data(as_text=False)
        assert isinstance(payload, bytes)
        if not signed_by_peer(gateway.secret, payload):
            return Response(FORBIDDEN, 403, content_type=JSON_TYPE)
        data = orjson.loads(payload)
        if await gateway.ownership.locate(session_id) is not None:
            return Response(b"{}", 409, headers={"X-ACS-Not-Owner": "1"}, content_type=JSON_TYPE)
        call = Call(
            data["kind"],
            data["version"],
            data["merchant_id"],
            Body.read(base64.b64decode(data["raw"])),
            data.get("params"),
        )
        codec = gateway.versions.by_version[call.version]
        answer = None
        if data.get("answer"):
            spec = data["answer"]
            answer = Answer(
                spec["scope"],
                spec["fingerprint"],
                spec["status"],
                spec["expires_at"],
                call.version,
                spec["fresh"],
            )
        handled = {"X-ACS-Handled": "1"}
        try:
            view = await gateway.ask_local(session_id, build_message(call, codec, answer))
        except RequestRejected as refused:
            headers = dict(handled)
            if refused.retry_after is not None:
                headers["Retry-After"] = str(refused.retry_after)
            return Response(
                orjson.dumps(codec.render_error(refused)),
                refused.status,
                headers=headers,
                content_type=JSON_TYPE,
            )
        body = render_reply(call, gateway.versions, view)  # the recorded bytes, when recorded
        return Response(body, 200, headers=handled, content_type=JSON_TYPE)
