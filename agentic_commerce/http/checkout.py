"""The checkout session endpoints: each request becomes one message to its session actor."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson
from quart import Quart, Response

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
from agentic_commerce.http.context import Caller, Gate
from agentic_commerce.http.errors import from_actor_error
from agentic_commerce.http.responses import json_response
from agentic_commerce.store.base import Answer

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def register_checkout(app: Quart, system: ActorSystem, gate: Gate) -> None:
    sessions = system.sessions
    timeout = system.settings.ask_timeout_seconds

    async def ask(session_id: str, message: Any) -> SessionView:
        try:
            reply = await sessions.ref(session_id).ask(message, timeout)
        except ActorError as exc:
            raise from_actor_error(exc) from None
        if isinstance(reply, RequestRejected):
            raise reply
        assert isinstance(reply, SessionView)
        return reply

    def known(session_id: str) -> str:
        if not SESSION_ID.match(session_id):
            raise RequestRejected("not_found", "Checkout session not found.", None, status=404)
        return session_id

    async def post(
        session_id: str, status: int, message: Callable[[Caller, bytes, Answer | None], Any]
    ) -> Response:
        """One POST: one message to the session's actor."""
        who, raw = await gate.enter()
        return await gate.post(
            who,
            raw,
            status,
            render=lambda view: orjson.dumps(who.codec.render_session(view)),
            call=lambda answer: ask(session_id, message(who, raw, answer)),
        )

    @app.post("/checkout_sessions")
    async def create_session() -> Response:
        return await post(
            new_id("cs"),
            201,
            lambda who, raw, answer: Create(
                who.codec.parse_create(raw), who.merchant_id, who.codec.version, answer
            ),
        )

    @app.get("/checkout_sessions/<session_id>")
    async def get_session(session_id: str) -> Response:
        who, _ = await gate.enter()
        activation = sessions.lookup(known(session_id))
        view = fresh_snapshot(
            activation.actor if activation else None, who.merchant_id, system.clock.now()
        )
        if view is None:
            view = await ask(session_id, Get(who.merchant_id))
        return json_response(who.codec.render_session(view))

    @app.post("/checkout_sessions/<session_id>")
    async def update_session(session_id: str) -> Response:
        return await post(
            known(session_id),
            200,
            lambda who, raw, answer: Update(who.codec.parse_update(raw), who.merchant_id, answer),
        )

    @app.post("/checkout_sessions/<session_id>/complete")
    async def complete_session(session_id: str) -> Response:
        return await post(
            known(session_id),
            200,
            lambda who, raw, answer: Complete(
                who.codec.parse_complete(raw), who.merchant_id, answer
            ),
        )

    @app.post("/checkout_sessions/<session_id>/cancel")
    async def cancel_session(session_id: str) -> Response:
        return await post(
            known(session_id),
            200,
            lambda who, raw, answer: Cancel(who.codec.parse_cancel(raw), who.merchant_id, answer),
        )
