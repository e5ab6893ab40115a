"""The checkout session endpoints: each request becomes one message to its session actor
(here, or on the instance that runs it: see `gateway`)."""

from __future__ import annotations

import hashlib
import re
from functools import partial

from quart import Quart, Response, request

from agentic_commerce.actors.ownership import OWNED
from agentic_commerce.actors.session import (
    SESSION_EXISTS,
    committed_view,
    fresh_snapshot,
    new_id,
)
from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.view import SessionView
from agentic_commerce.http.context import Caller, Gate
from agentic_commerce.http.gateway import Call, SessionGateway
from agentic_commerce.http.responses import JSON_TYPE
from agentic_commerce.protocol.versions import Versions
from agentic_commerce.store.base import Answer

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")  # of carts too


def derived_id(prefix: str, merchant_id: str, idempotency_key: str | None) -> str:
    """A create with an Idempotency-Key gets an id derived from (merchant, key), so its
    idempotency record and what it creates share a partition; without a key, a random id."""
    if not idempotency_key:
        return new_id(prefix)
    digest = hashlib.sha256(f"{merchant_id}\x1f{idempotency_key}".encode()).hexdigest()
    return f"{prefix}_{digest[:24]}"


def new_session_id(merchant_id: str, idempotency_key: str | None) -> str:
    return derived_id("cs", merchant_id, idempotency_key)


def render(
    versions: Versions, who: Caller, reply: SessionView | bytes, complete: bool = False
) -> bytes:
    """A reply as bytes: a view rendered once per version (views are cached, and an
    idempotent answer's body is in the cache already), or the body an owning instance
    already rendered."""
    if isinstance(reply, bytes):
        return reply
    return versions.render(who.codec.version, reply, complete=complete)


def register_checkout(app: Quart, system: ActorSystem, gate: Gate, gateway: SessionGateway) -> None:
    sessions = system.sessions
    deps = system.session_deps

    def known(session_id: str) -> str:
        if not SESSION_ID.match(session_id):
            raise RequestRejected("not_found", "Checkout session not found.", None, status=404)
        return session_id

    async def post(session_id: str | None, kind: str, status: int) -> Response:
        """One POST: one message to the session's actor (a new one for a create)."""
        who, body = await gate.enter()
        target = session_id or new_session_id(
            who.merchant_id, request.headers.get("Idempotency-Key")
        )
        call = Call(kind, who.codec.version, who.merchant_id, body)

        async def run(answer: Answer | None) -> SessionView | bytes:
            try:
                return await gateway.call(target, call, who.codec, answer)
            except RequestRejected as refused:
                if not (session_id is None and refused.code == SESSION_EXISTS):
                    raise
                # The key was used before and its record has expired: a new request.
                return await gateway.call(new_id("cs"), call, who.codec, answer)

        answer = partial(render, system.versions, who, complete=kind == "complete")
        return await gate.post(who, body, target, status, answer, run)

    @app.post("/checkout_sessions")
    async def create_session() -> Response:
        return await post(None, "create", 201)

    @app.get("/checkout_sessions/<session_id>")
    async def get_session(session_id: str) -> Response:
        who, _ = await gate.enter()
        activation = sessions.lookup(known(session_id))
        reply: SessionView | bytes | None
        if activation is None and gateway.ownership.clustered:
            # Not live here: the committed state, never forwarded; unless nobody runs
            # it (this instance took its lease in the same round trip): then wake it.
            found = await gateway.ownership.read_or_own(session_id)
            reply = None if found is OWNED else committed_view(deps, found, who.merchant_id)
        elif activation is None:
            # One process owns every session: wake its actor (one load), so the next
            # reads are its snapshot, with no store call and the rendered bytes cached.
            reply = None
        else:
            now = system.clock.now()
            reply = fresh_snapshot(activation.actor, who.merchant_id, now)
        if reply is None:  # to wake, or live with an expiry to apply (its actor commits it)
            call = Call("get", who.codec.version, who.merchant_id)
            reply = await gateway.call(session_id, call, who.codec, None)
        return Response(render(system.versions, who, reply), 200, content_type=JSON_TYPE)

    @app.post("/checkout_sessions/<session_id>")
    async def update_session(session_id: str) -> Response:
        return await post(known(session_id), "update", 200)

    @app.post("/checkout_sessions/<session_id>/complete")
    async def complete_session(session_id: str) -> Response:
        return await post(known(session_id), "complete", 200)

    @app.post("/checkout_sessions/<session_id>/cancel")
    async def cancel_session(session_id: str) -> Response:
        return await post(known(session_id), "cancel", 200)
