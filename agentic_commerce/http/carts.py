"""The Cart API (`/carts`, from 2026-04-17): each request is one message to its cart's
actor, behind the same gate as checkout (API key, rate limit, version, body,
signature) and the same idempotency (required key, same key space). A version
without carts answers 404, as for any route it does not define."""

from __future__ import annotations

from quart import Quart, Response, request

from agentic_commerce.actors.cart import (
    CART_EXISTS,
    CancelCart,
    CartMessage,
    CreateCart,
    GetCart,
    ReplaceCart,
    cart_not_found,
    new_cart_id,
)
from agentic_commerce.actors.system import ActorSystem
from agentic_commerce.domain.cart import CartView
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.http.checkout import SESSION_ID, derived_id
from agentic_commerce.http.context import Caller, Gate
from agentic_commerce.http.errors import absent_in_version, ask_actor
from agentic_commerce.http.responses import JSON_TYPE
from agentic_commerce.protocol.base import Body
from agentic_commerce.protocol.traits import BY_VERSION
from agentic_commerce.store.base import Answer


def register_carts(app: Quart, system: ActorSystem, gate: Gate) -> None:
    codec, timeout = system.cart_codec, system.settings.ask_timeout_seconds

    async def enter(cart_id: str | None = None) -> tuple[Caller, Body]:
        who, body = await gate.enter()
        if not BY_VERSION[who.codec.version].carts:
            raise absent_in_version("Cart API")
        if cart_id is not None and not SESSION_ID.match(cart_id):
            raise cart_not_found()
        return who, body

    async def ask(cart_id: str, message: CartMessage) -> CartView:
        reply = await ask_actor(system.carts.ref(cart_id), message, timeout)
        assert isinstance(reply, CartView)
        return reply

    @app.post("/carts")
    async def create_cart() -> Response:
        who, body = await enter()
        target = derived_id("cart", who.merchant_id, request.headers.get("Idempotency-Key"))

        async def run(answer: Answer | None) -> CartView:
            command = codec.parse_create(body)
            try:
                return await ask(target, CreateCart(command, who.merchant_id, answer))
            except RequestRejected as refused:
                if refused.code != CART_EXISTS:
                    raise
                # The key was used before and its record has expired: a new request.
                return await ask(new_cart_id(), CreateCart(command, who.merchant_id, answer))

        return await gate.post(who, body, target, 201, codec.render, run)

    @app.get("/carts/<cart_id>")
    async def get_cart(cart_id: str) -> Response:
        who, _ = await enter(cart_id)
        view = await ask(cart_id, GetCart(who.merchant_id))
        return Response(codec.render(view), 200, content_type=JSON_TYPE)

    @app.put("/carts/<cart_id>")
    async def update_cart(cart_id: str) -> Response:
        who, body = await enter(cart_id)

        async def run(answer: Answer | None) -> CartView:
            command = codec.parse_update(body)
            return await ask(cart_id, ReplaceCart(command, who.merchant_id, answer))

        return await gate.post(who, body, cart_id, 200, codec.render, run)

    @app.post("/carts/<cart_id>/cancel")
    async def cancel_cart(cart_id: str) -> Response:
        who, body = await enter(cart_id)

        async def run(answer: Answer | None) -> CartView:
            codec.parse_cancel(body)
            return await ask(cart_id, CancelCart(who.merchant_id, answer))

        return await gate.post(who, body, cart_id, 200, codec.render, run)
