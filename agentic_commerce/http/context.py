"""What every ACP endpoint does first: who calls, in which version, with which body,
and how a POST is answered (once per Idempotency-Key)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import orjson
from quart import Response, g, request

from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.http.auth import ApiKeys
from agentic_commerce.http.codecs.base import Codec
from agentic_commerce.http.idempotency import Idempotency
from agentic_commerce.http.responses import JSON_TYPE
from agentic_commerce.http.versions import Versions
from agentic_commerce.store.base import Answer

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Caller:
    merchant_id: str
    codec: Codec


class Gate:
    """Authentication first (unauthenticated callers learn nothing), then the version."""

    def __init__(self, keys: ApiKeys, versions: Versions, idempotency: Idempotency) -> None:
        self.keys = keys
        self.versions = versions
        self.idempotency = idempotency

    def caller(self) -> Caller:
        merchant = self.keys.merchant_for(request.headers.get("Authorization"))
        codec = self.versions.codec_for(request.headers.get("API-Version"))
        g.codec = codec  # errors from here on are rendered in this version
        return Caller(merchant, codec)

    async def post(
        self,
        who: Caller,
        raw: bytes,
        status: int,
        render: Callable[[T], bytes],
        call: Callable[[Answer | None], Awaitable[T]],
    ) -> Response:
        """Run a POST through idempotency when it carries a key (required from 2026-04-17)."""
        key = Idempotency.key_of(request.headers.get("Idempotency-Key"), who.codec.version)
        if key is None:
            return Response(render(await call(None)), status, content_type=JSON_TYPE)
        outcome = await self.idempotency.run(
            key=key,
            merchant_id=who.merchant_id,
            method=request.method,
            path=request.path,
            raw=raw,
            version=who.codec.version,
            status=status,
            render=render,
            render_error=lambda error: orjson.dumps(who.codec.render_error(error)),
            call=call,
        )
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
        return Response(outcome.body, outcome.status, headers=headers, content_type=JSON_TYPE)


async def read_body() -> bytes:
    """The raw body; anything but JSON is refused (an empty body is fine)."""
    raw = await request.get_data(cache=False, as_text=False)
    assert isinstance(raw, bytes)
    if raw.strip() and request.mimetype != JSON_TYPE:
        raise RequestRejected(
            "unsupported_media_type", "Send the body as application/json.", None, status=415
        )
    return raw
