"""The checkout session endpoints: each request becomes one message to its session actor."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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
from agentic_commerce.http.responses import json_response
from agentic_commerce.http.versions import Versions

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


@dataclass(frozen=True, slots=True)
class Caller:
    merchant_id: str
    codec: Codec


def register_checkout(app: Quart, system: ActorSystem, versions: Versions, keys: ApiKeys) -> None:
    sessions = system.sessions
    timeout = system.settings.ask_timeout_seconds

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

    @app.post("/checkout_sessions")
    async def create_session() -> Response:
        who = caller()
        command = who.codec.parse_create(await body())
        message = Create(command, who.merchant_id, who.codec.version)
        return render(who, await ask(new_id("cs"), message), 201)

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
        command = who.codec.parse_update(await body())
        return render(who, await ask(known(session_id), Update(command, who.merchant_id)))

    @app.post("/checkout_sessions/<session_id>/complete")
    async def complete_session(session_id: str) -> Response:
        who = caller()
        command = who.codec.parse_complete(await body())
        return render(who, await ask(known(session_id), Complete(command, who.merchant_id)))

    @app.post("/checkout_sessions/<session_id>/cancel")
    async def cancel_session(session_id: str) -> Response:
        who = caller()
        command = who.codec.parse_cancel(await body())
        return render(who, await ask(known(session_id), Cancel(command, who.merchant_id)))
