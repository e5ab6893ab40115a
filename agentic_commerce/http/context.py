"""What every ACP endpoint does first: who calls, in which version, with which body,
and how a POST is answered (once per idempotency key).

The checks do not depend on how a request arrives: REST passes its headers and
body (`Gate.enter`), an MCP tool call its `meta` and the canonical JSON of its
`payload` (`agentic_commerce.http.mcp`), through the same steps in the same order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import orjson
from quart import Response, g, request

from agentic_commerce import metrics
from agentic_commerce.actors.clock import SystemClock
from agentic_commerce.actors.rate_limits import RateLimits
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.domain.rate_limit import Decision, Limit
from agentic_commerce.http.auth import ApiKeys
from agentic_commerce.http.idempotency import Idempotency, Outcome
from agentic_commerce.http.responses import JSON_TYPE
from agentic_commerce.http.signatures import Signatures
from agentic_commerce.protocol.base import Body, Codec
from agentic_commerce.protocol.versions import Versions
from agentic_commerce.store.base import Answer

if TYPE_CHECKING:  # it imports RateLimited from here
    from agentic_commerce.http.throttle import AuthThrottle

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Caller:
    merchant_id: str
    codec: Codec


@dataclass(frozen=True, slots=True)
class Presented:
    """What a request states about itself besides its body and credential: REST's
    `API-Version`, `Timestamp` and `Signature` headers, or an MCP call's `meta`."""

    api_version: str | None
    timestamp: str | None = None
    signature: str | None = None


@dataclass(slots=True)
class Admission:
    """What the gate has learned of one request so far. Its answer shows it, a
    refusal included: the rate-limit headers, the version an error is rendered in."""

    merchant: str | None = None
    rate_limit: Decision | None = None
    codec: Codec | None = None


@dataclass(frozen=True, slots=True)
class Gate:
    """Every API request passes, in order: the throttle of failed credentials
    (an address that guessed too many keys waits), the API key (unauthenticated
    callers learn nothing), the merchant's rate limit (keyed on the authenticated
    merchant, never on a header a client controls), the API version, the body,
    and the request signature when the merchant has a signing secret. The throttle
    and the rate limit cost no store call (this instance's account: `RateLimits`)."""

    keys: ApiKeys
    versions: Versions
    idempotency: Idempotency
    signatures: Signatures
    limits: RateLimits
    limit: Limit
    clock: SystemClock
    throttle: AuthThrottle

    async def enter(self) -> tuple[Caller, Body]:
        """The checks of a REST request, from quart's `request`."""
        g.admission = admission = Admission()  # read by the app's response hooks
        merchant = await self.authenticate(
            self.throttle.address(), request.headers.get("Authorization")
        )
        presented = Presented(
            request.headers.get("API-Version"),
            request.headers.get("Timestamp"),
            request.headers.get("Signature"),
        )
        return await self.admit(admission, merchant, presented, read_body)

    async def authenticate(self, client: str, authorization: str | None) -> str:
        """The merchant of an `Authorization` header, unless `client` (an address)
        guessed too many keys: the API key check of every transport."""
        try:
            merchant = self.keys.merchant_for(authorization)
        except RequestRejected as refused:
            metrics.AUTH_FAILURES.labels(refused.code).inc()
            self.throttle.refuse_if_over(client)  # an address over its limit learns nothing (429)
            if refused.code != "missing_api_key":  # no key sent: not a guess
                await self.throttle.failed(client)
            raise
        self.throttle.refuse_if_over(client)  # even with the right key
        return merchant

    async def admit(
        self,
        admission: Admission,
        merchant: str,
        presented: Presented,
        read: Callable[[], Awaitable[bytes]],
    ) -> tuple[Caller, Body]:
        """The checks after authentication: rate limit, version, body (`read`), signature."""
        admission.merchant = merchant
        decision = admission.rate_limit = self.limits.admit(f"merchant:{merchant}", self.limit)
        if not decision.allowed:
            metrics.RATE_LIMITED.inc()
            raise RateLimited(decision.retry_after)
        codec = admission.codec = self.versions.codec_for(presented.api_version)
        raw = await read()
        try:
            await self.signatures.verify(
                merchant, presented.timestamp, presented.signature, raw, self.clock.now()
            )
        except RequestRejected as refused:
            metrics.AUTH_FAILURES.labels(refused.code).inc()
            raise
        return Caller(merchant, codec), Body.read(raw)  # the one parse of the body

    async def answer(
        self,
        who: Caller,
        body: Body,
        key: str | None,
        path: str,
        partition: str,
        status: int,
        render: Callable[[T], bytes],
        call: Callable[[Answer | None], Awaitable[T]],
    ) -> Outcome:
        """Run a POST (of `path`, whatever its transport) once per idempotency key;
        without one (allowed before 2026-04-17, and over MCP) it simply runs."""
        if key is None:
            return Outcome(status, render(await call(None)))
        return await self.idempotency.run(
            key=key,
            merchant_id=who.merchant_id,
            method="POST",
            path=path,
            body=body,
            version=who.codec.version,
            partition=partition,
            status=status,
            render=render,
            render_error=lambda error: orjson.dumps(who.codec.render_error(error)),
            call=call,
        )

    async def post(
        self,
        who: Caller,
        body: Body,
        partition: str,
        status: int,
        render: Callable[[T], bytes],
        call: Callable[[Answer | None], Awaitable[T]],
    ) -> Response:
        """A REST POST through idempotency when it carries a key (required from 2026-04-17)."""
        key = Idempotency.key_of(request.headers.get("Idempotency-Key"), who.codec.version)
        outcome = await self.answer(who, body, key, request.path, partition, status, render, call)
        return respond(outcome)


def respond(outcome: Outcome) -> Response:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return Response(outcome.body, outcome.status, headers=headers, content_type=JSON_TYPE)


def current_admission() -> Admission:
    """The current REST request's admission (empty before the gate ran)."""
    return g.get("admission") or Admission()


class RateLimited(RequestRejected):
    """Over the merchant's limit. The checkout Error types have none for this
    (spec issue #161): `invalid_request` with code `too_many_requests`; the
    delegate-payment Error has `rate_limit_exceeded` and the same code."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "too_many_requests",
            "Too many requests; retry after the time in Retry-After.",
            None,
            status=429,
            retry_after=retry_after,
        )


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_seconds),
    }


async def read_body() -> bytes:
    """The raw body of a REST request; anything but JSON is refused (an empty body
    is fine, and a GET has none)."""
    if request.method == "GET":
        return b""
    raw = await request.get_data(cache=False, as_text=False)
    assert isinstance(raw, bytes)
    if raw.strip() and request.mimetype != JSON_TYPE:
        raise RequestRejected(
            "unsupported_media_type", "Send the body as application/json.", None, status=415
        )
    return raw
