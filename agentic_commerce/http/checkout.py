"""The checkout session operations: each request becomes one message to its session
actor (here, or on the instance that runs it: see `gateway`). `Checkout` holds the
operations whatever the transport; REST routes (here) and MCP tools (`http.mcp`)
both call it, so both reach the same actor through the same idempotency."""

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
from agentic_commerce.http.context import Caller, Gate, respond
from agentic_commerce.http.gateway import Call, SessionGateway
from agentic_commerce.http.idempotency import Idempotency, Outcome
from agentic_commerce.http.responses import JSON_TYPE
from agentic_commerce.protocol.base import Body
from agentic_commerce.protocol.versions import Versions
from agentic_commerce.store.base import Answer

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")  # of carts too
CREATED = 201


def derived_id(prefix: str, merchant_id: str, idempotency_key: str | None) -> str:
    """A create with an Idempotency-Key gets an id derived from (merchant, key), so its
    idempotency record and what it creates share a partition; without a key, a random id."""
    if not idempotency_key:
        return new_id(prefix)
    digest = hashlib.sha256(f"{merchant_id}\x1f{idempotency_key}".encode()).hexdigest()
    return f"{prefix}_{digest[:24]}"


def new_session_id(merchant_id: str, idempotency_key: str | None) -> str:
    return derived_id("cs", merchant_id, idempotency_key)


def known(session_id: str) -> str:
    """A session id as a path can hold it; anything else is no session."""
    if not SESSION_ID.match(session_id):
        raise RequestRejected("not_found", "Checkout session not found.", None, status=404)
    return session_id


def path_of(kind: str, session_id: str | None) -> str:
    """The REST path of an operation: what its idempotency key is scoped to."""
    if session_id is None:
        return "/checkout_sessions"
    suffix = "" if kind == "update" else f"/{kind}"
    return f"/checkout_sessions/{session_id}{suffix}"


def render(
    versions: Versions, who: Caller, reply: SessionView | bytes, complete: bool = False
) -> bytes:
    """A reply as bytes: a view rendered once per version (views are cached, and an
    idempotent answer's body is in the cache already), or the body an owning instance
    already rendered."""
    if isinstance(reply, bytes):
        return reply
    return versions.render(who.codec.version, reply, complete=complete)


class Checkout:
    """Create, get, update, complete and cancel, for a caller the gate admitted."""

    def __init__(self, system: ActorSystem, gate: Gate, gateway: SessionGateway) -> None:
        self.system = system
        self.gate = gate
        self.gateway = gateway

    async def post(
        self, who: Caller, kind: str, session_id: str | None, body: Body, key: str | None
    ) -> Outcome:
        """One POST: one message to the session's actor (a new one for a create)."""
        target = session_id or new_session_id(who.merchant_id, key)
        call = Call(kind, who.codec.version, who.merchant_id, body)

        async def run(answer: Answer | None) -> SessionView | bytes:
            try:
                return await self.gateway.call(target, call, who.codec, answer)
            except RequestRejected as refused:
                if not (session_id is None and refused.code == SESSION_EXISTS):
                    raise
                # The key was used before and its record has expired: a new request.
                return await self.gateway.call(new_id("cs"), call, who.codec, answer)

        answer = partial(render, self.system.versions, who, complete=kind == "complete")
        status = CREATED if session_id is None else 200
        path = path_of(kind, session_id)
        return await self.gate.answer(who, body, key, path, target, status, answer, run)

    async def get(self, who: Caller, session_id: str) -> bytes:
        """The session as its caller's version shows it, with the fewest store calls."""
        sessions, gateway = self.system.sessions, self.gateway
        activation = sessions.lookup(known(session_id))
        reply: SessionView | bytes | None
        if activation is None and gateway.ownership.clustered:
            # Not live here: the committed state, never forwarded; unless nobody runs
            # it (this instance took its lease in the same round trip): then wake it.
            found = await gateway.ownership.read_or_own(session_id)
            deps = self.system.session_deps
            reply = None if found is OWNED else committed_view(deps, found, who.merchant_id)
        elif activation is None:
            # One process owns every session: wake its actor (one load), so the next
            # reads are its snapshot, with no store call and the rendered bytes cached.
            reply = None
        else:
            now = self.system.clock.now()
            reply = fresh_snapshot(activation.actor, who.merchant_id, now)
        if reply is None:  # to wake, or live with an expiry to apply (its actor commits it)
            call = Call("get", who.codec.version, who.merchant_id)
            reply = await gateway.call(session_id, call, who.codec, None)
        return render(self.system.versions, who, reply)


def register_checkout(app: Quart, gate: Gate, checkout: Checkout) -> None:
    async def post(session_id: str | None, kind: str) -> Response:
        who, body = await gate.enter()
        key = Idempotency.key_of(request.headers.get("Idempotency-Key"), who.codec.version)
        return respond(await checkout.post(who, kind, session_id, body, key))

    @app.post("/checkout_sessions")
    async def create_session() -> Response:
        return await post(None, "create")

    @app.get("/checkout_sessions/<session_id>")
    async def get_session(session_id: str) -> Response:
        who, _ = await gate.enter()
        body = await checkout.get(who, session_id)
        return Response(body, 200, content_type=JSON_TYPE)

    @app.post("/checkout_sessions/<session_id>")
    async def update_session(session_id: str) -> Response:
        return await post(known(session_id), "update")

    @app.post("/checkout_sessions/<session_id>/complete")
    async def complete_session(session_id: str) -> Response:
        return await post(known(session_id), "complete")

    @app.post("/checkout_sessions/<session_id>/cancel")
    async def cancel_session(session_id: str) -> Response:
        return await post(known(session_id), "cancel")
