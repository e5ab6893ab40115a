"""The checkout session endpoints: each request becomes one message to its session actor."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from quart import Quart, Response, g, request

from agentic_commerce.actors.runtime import ActorError
from agentic_commerce.actors.session import (
    Cancel,
    Complete,
    Create,
    Get,
    SessionView,
    Update,
    fresh_snapshot,
    new_id,
)
from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.http.auth import ApiKeys
from agentic_commerce.http.codecs.base import Codec
from agentic_commerce.http.errors import from_actor_error
from agentic_commerce.http.idempotency import Idempotency
from agentic_commerce.http.responses import JSON_TYPE, json_response
from agentic_commerce.http.versions import Versions
from agentic_commerce.store.base import Answer

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


@dataclass(frozen=True, slots=True)
class Caller:
    merchant_id: str
    codec: Codec


def register_checkout(app: Quart, system: ActorSystem, versions: Versions, keys: ApiKeys) -> None:
    sessions = system.sessions
    timeout = system.settings.ask_timeout_seconds
    idempotency = Idempotency(
        system.store,
        ttl_seconds=system.settings.idempotency_ttl_seconds,
        claim_seconds=2 * timeout,
    )

    def caller() -> Caller:
        merchant = keys.merchant_for(request.headers.get("Authorization"))
        codec = versions.codec_for(request.headers.get("API-Version"))
        g.codec = codec
        return Caller(merchant, codec)

    async def body() -> bytes:
        raw = await request.get_data(cache=False, as_text=False)
        assert isinstance(raw, bytes)
        if raw.strip() and request.mimetype != "application/json":
            raise RequestRejected(
                "unsupported_media_type", "Send the body as application/json.", None, status=415
            )
        return raw

    async def ask(session_id: str, message: Any) -> SessionView:
        try:
            reply = await sessions.ref(session_id).ask(message, timeout)
        except ActorError as exc:
            raise from_actor_error(exc) from None
        if isinstance(reply, RequestRejected):
            raise reply
        assert isinstance(reply, SessionView)
        return reply

    def render(who: Caller, view: SessionView, status: int = 200) -> Response:
        return json_response(who.codec.render_session(view), status)

    def known(session_id: str) -> str:
        if not SESSION_ID.match(session_id):
            raise RequestRejected("not_found", "Checkout session not found.", None, status=404)
        return session_id

    async def post(
        who: Caller,
        session_id: str,
        status: int,
        message: Callable[[bytes, Answer | None], Any],
    ) -> Response:
        """Run a POST as one actor message, through idempotency when a key is sent."""
        raw = await body()
        key = Idempotency.key_of(request.headers.get("Idempotency-Key"), who.codec.version)
        if key is None:
            return render(who, await ask(session_id, message(raw, None)), status)
        outcome = await idempotency.run(
            key=key,
            merchant_id=who.merchant_id,
            method=request.method,
            path=request.path,
            raw=raw,
            version=who.codec.version,
            status=status,
            render=lambda view: orjson.dumps(who.codec.render_session(view)),
            render_error=lambda error: orjson.dumps(who.codec.render_error(error)),
            call=lambda answer: ask(session_id, message(raw, answer)),
        )
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
        return Response(
            outcome.body, status=outcome.status, headers=headers, content_type=JSON_TYPE
        )

    @app.post("/checkout_sessions")
    async def create_session() -> Response:
        who = caller()
        return await post(
            who,
            new_id("cs"),
            201,
            lambda raw, answer: Create(
                who.codec.parse_create(raw), who.merchant_id, who.codec.version, answer
            ),
        )

    @app.get("/checkout_sessions/<session_id>")
    async def get_session(session_id: str) -> Response:
        who = caller()
        activation = sessions.lookup(known(session_id))
        view = fresh_snapshot(
            activation.actor if activation else None, who.merchant_id, system.clock.now()
        )
        if view is None:
            view = await ask(session_id, Get(who.merchant_id))
        return render(who, view)

    @app.post("/checkout_sessions/<session_id>")
    async def update_session(session_id: str) -> Response:
        who = caller()
        return await post(
            who,
            known(session_id),
            200,
            lambda raw, answer: Update(who.codec.parse_update(raw), who.merchant_id, answer),
        )

    @app.post("/checkout_sessions/<session_id>/complete")
    async def complete_session(session_id: str) -> Response:
        who = caller()
        return await post(
            who,
            known(session_id),
            200,
            lambda raw, answer: Complete(who.codec.parse_complete(raw), who.merchant_id, answer),
        )

    @app.post("/checkout_sessions/<session_id>/cancel")
    async def cancel_session(session_id: str) -> Response:
        who = caller()
        return await post(
            who,
            known(session_id),
            200,
            lambda raw, answer: Cancel(who.codec.parse_cancel(raw), who.merchant_id, answer),
        )
