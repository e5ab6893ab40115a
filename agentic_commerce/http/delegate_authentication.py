"""`/delegate_authentication`: the sandbox PSP's 3-D Secure provider, beside the vault.

Agent developers run the whole 3-D Secure flow against this server alone: create
an authentication session for a test card, authenticate it, read its result, and
complete a checkout with that result (checked by `payments/vault.py`). What each
test card does is `domain/delegate_authentication.RULES`. The card number is
never kept, logged or echoed. Same gate, idempotency and production switch as the
vault (`VAULT_ENABLED`); its Error codes are a closed list too, so card problems
are `invalid_card` and the rest use the checkout Error shape.
"""

from __future__ import annotations

from dataclasses import replace

import orjson
from quart import Quart, Response

from agentic_commerce.actors.clock import SystemClock
from agentic_commerce.config.settings import Settings
from agentic_commerce.domain import delegate_authentication as auth
from agentic_commerce.domain import vault
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.http.context import Caller, Gate
from agentic_commerce.http.errors import absent_in_version
from agentic_commerce.http.psp import check_expiry, check_number, enter, parse_card_request
from agentic_commerce.protocol import delegate_authentication as wire
from agentic_commerce.protocol.base import Body
from agentic_commerce.store.base import Answer, Store

PATH = "/delegate_authentication"
CARD_PARAM = "$.payment_method"
JSON_TYPE = "application/json"


def _require_version(who: Caller) -> None:
    if who.codec.version != wire.VERSION:
        raise absent_in_version("Delegate Authentication API")


def _not_found() -> RequestRejected:
    return RequestRejected("not_found", "Authentication session not found.", None, status=404)


class Authentications:
    """Turns Delegate Authentication requests into stored sessions and answers."""

    def __init__(self, store: Store, settings: Settings, clock: SystemClock, secret: bytes) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.secret = secret  # the vault's: the same card has the same fingerprint

    async def create(self, merchant_id: str, sent: Body, answer: Answer | None) -> bytes:
        body = parse_card_request(wire.CreateRequest, sent, CARD_PARAM)
        card = body.payment_method
        check_number(card.number, CARD_PARAM)
        check_expiry(card.exp_month, card.exp_year, self.clock.now(), CARD_PARAM)
        if body.merchant_id != self.settings.psp_account(merchant_id):
            raise RequestRejected(
                "invalid_field", "merchant_id is not this merchant's PSP account.", "$.merchant_id"
            )
        if body.amount.value <= 0:
            raise RequestRejected(
                "invalid_field", "amount.value must be positive.", "$.amount.value"
            )
        session = auth.start(
            auth.rule_for(card.number),
            merchant_id=merchant_id,
            checkout_session_id=body.checkout_session_id,
            card_fingerprint=vault.fingerprint(self.secret, card.number),
            brand=vault.brand_of(card.number),
            last4=card.number[-4:],
            amount=body.amount.value,
            currency=body.amount.currency,
            now=self.clock.now(),
        )
        return await self._save(session, wire.render_session(session), answer)

    async def authenticate(
        self, merchant_id: str, session_id: str, sent: Body, answer: Answer | None
    ) -> bytes:
        request = parse_card_request(wire.AuthenticateRequest, sent, CARD_PARAM)
        current = await self.load(merchant_id, session_id)
        bound = current.checkout_session_id or request.checkout_session_id
        if request.checkout_session_id not in (None, bound):
            raise RequestRejected(
                "invalid_field",
                "checkout_session_id differs from the authentication session's.",
                "$.checkout_session_id",
            )
        try:
            session = auth.authenticate(current)
        except auth.NotAuthenticable:
            raise RequestRejected(
                "invalid_state",
                "This authentication session is not waiting to be authenticated.",
                None,
                status=409,
            ) from None
        session = replace(session, checkout_session_id=bound)  # named at either step
        return await self._save(session, wire.render_session(session), answer)

    async def load(self, merchant_id: str, session_id: str) -> auth.AuthenticationSession:
        """The merchant's session (another merchant's is as unknown as a missing one)."""
        session = await self.store.load_authentication(session_id)
        if session is None or session.merchant_id != merchant_id:
            raise _not_found()
        return session

    async def _save(
        self, session: auth.AuthenticationSession, rendered: object, answer: Answer | None
    ) -> bytes:
        response = orjson.dumps(rendered)
        record = answer.record(response) if answer is not None else None
        await self.store.put_authentication(session, record)
        return response


def register_delegate_authentication(app: Quart, service: Authentications, gate: Gate) -> None:
    @app.post(PATH)
    async def create_authentication_session() -> Response:
        who, sent = await enter(gate)
        _require_version(who)

        async def call(answer: Answer | None) -> bytes:
            return await service.create(who.merchant_id, sent, answer)

        return await gate.post(who, sent, f"auth-{who.merchant_id}", 201, bytes, call)

    @app.post(f"{PATH}/<authentication_session_id>/authenticate")
    async def authenticate_session(authentication_session_id: str) -> Response:
        who, sent = await enter(gate)
        _require_version(who)

        async def call(answer: Answer | None) -> bytes:
            return await service.authenticate(
                who.merchant_id, authentication_session_id, sent, answer
            )

        return await gate.post(who, sent, f"auth-{who.merchant_id}", 200, bytes, call)

    @app.get(f"{PATH}/<authentication_session_id>")
    async def get_authentication_session(authentication_session_id: str) -> Response:
        who, _ = await enter(gate)
        _require_version(who)
        session = await service.load(who.merchant_id, authentication_session_id)
        body = orjson.dumps(wire.render_with_result(session))
        return Response(body, 200, content_type=JSON_TYPE)
