"""The checkout session endpoints: each request becomes one message to its session actor."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import orjson
from quart import Quart, Response, request

from agentic_commerce.actors.runtime import ActorError
from agentic_commerce.actors.session import (
    SESSION_EXISTS,
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
from agentic_commerce.http.responses import JSON_TYPE
from agentic_commerce.store.base import Answer

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def new_session_id(merchant_id: str, idempotency_key: str | None) -> str:
    """A create with an Idempotency-Key gets an id derived from (merchant, key), so its
    idempotency record and the new session share a partition; without a key, a random id."""
    if not idempotency_key:
        return new_id("cs")
    digest = hashlib.sha256(f"{merchant_id}\x1f{idempotency_key}".encode()).hexdigest()
    return f"cs_{digest[:24]}"


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
        session_id: str | None,
        status: int,
        message: Callable[[Caller, bytes, Answer | None], Any],
    ) -> Response:
        """One POST: one message to the session's actor (a new one for a create)."""
        who, raw = await gate.enter()
        creating = session_id is None
        target = session_id or new_session_id(
            who.merchant_id, request.headers.get("Idempotency-Key")
        )

        async def call(answer: Answer | None) -> SessionView:
            try:
                return await ask(target, message(who, raw, answer))
            except RequestRejected as refused:
                if not (creating and refused.code == SESSION_EXISTS):
                    raise
                # The key was used before and its record has expired: a new request.
                return await ask(new_id("cs"), message(who, raw, answer))

        return await gate.post(
            who,
            raw,
            target,
            status,
            render=lambda view: orjson.dumps(who.codec.render_session(view)),
            call=call,
        )

    @app.post("/checkout_sessions")
    async def create_session() -> Response:
        return await post(
            None,
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
        body = view.rendered.get(who.codec.version)
        if body is None:
            body = view.rendered[who.codec.version] = orjson.dumps(who.codec.render_session(view))
        return Response(body, 200, content_type=JSON_TYPE)

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
