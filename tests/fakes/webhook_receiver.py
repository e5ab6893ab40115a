"""A real HTTP receiver of order webhooks on loopback: it verifies each delivery's
signature with the public helper, records what arrived, and can be scripted to
fail, be down, or be slow."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from agentic_commerce.webhooks.signing import InvalidSignature, verify
from tests.fakes.asgi import Receive, Scope, Send, lifespan, read_body, respond, serving


@dataclass
class Delivery:
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes
    status: int
    signature_ok: bool


@dataclass
class FakeReceiver:
    secret: str
    url: str = ""
    # Statuses to answer, in order, before answering 200 ("slow" sleeps past the timeout).
    script: list[int | str] = field(default_factory=list)
    down: bool = False
    deliveries: list[Delivery] = field(default_factory=list)
    slow_seconds: float = 5.0
    _changed: trio.Event = field(default_factory=trio.Event)

    @property
    def accepted(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.status == 200]

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[Delivery]:
        """Wait until `count` deliveries were accepted (bounded)."""
        with trio.fail_after(timeout):
            while len(self.accepted) < count:
                await self._changed.wait()
        return self.accepted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        raw = await read_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        try:
            verify(self.secret, headers.get("merchant-signature"), raw)
            signature_ok = True
        except InvalidSignature:
            signature_ok = False
        status: int | str = 503 if self.down else (self.script.pop(0) if self.script else 200)
        if status == "slow":
            await trio.sleep(self.slow_seconds)
            status = 200
        assert isinstance(status, int)
        if not signature_ok:
            status = 401
        self.deliveries.append(Delivery(headers, json.loads(raw), raw, status, signature_ok))
        self._changed.set()
        self._changed = trio.Event()
        extra = [(b"retry-after", b"0")] if status == 429 else []
        body = json.dumps({"received": status == 200}).encode()
        await respond(send, status, body, [(b"content-type", b"application/json"), *extra])


@asynccontextmanager
async def running_receiver(secret: str) -> AsyncIterator[FakeReceiver]:
    receiver = FakeReceiver(secret)
    async with serving(receiver) as url:
        receiver.url = f"{url}/agentic_checkout/webhooks/order_events"
        yield receiver
