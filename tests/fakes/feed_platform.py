"""A fake agent platform's Feed API (2026-04-17), for the feed publisher: it checks the
API key, validates every body against `schema.feed.json` (an invalid one is refused
with 400), keeps each feed's products as upserted, and records every request. Tests
script it to fail the first calls (`faults`: a status each, 429s with `Retry-After`,
or an answer that does not accept the upsert)
and to apply an upsert but never answer it (`stall_upsert`: the publisher's process
dies, or times out, with the push accepted but not acknowledged).

The same ASGI app is served on loopback (`running_platform`) for real server
processes, and driven in-process (`transport`) under a MockClock."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

from tests import acp_schema
from tests.fakes.asgi import Receive, Scope, Send, lifespan, read_body, respond, serving

VERSION = "2026-04-17"
PREFIX = "/acp"  # the platform's base URL has a path: the publisher must keep it
UPSERT = re.compile(rf"^{PREFIX}/feeds/(?P<feed>[^/]+)/products$")


@dataclass
class Request:
    """One request as the fake received it, and what it answered."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any
    status: int
    answer: Any
    at: float  # trio time
    source: str  # the client's address (in-process: the name its transport gives)
    problems: str = ""  # why the body or the key was refused


@dataclass
class Fault:
    status: int
    retry_after: str | None = None
    answer: Any = None  # the body answered (None: an ACP error)


@dataclass
class FakeFeedPlatform:
    api_key: str
    url: str = ""
    # One per request, before the API (None: this one reaches it).
    faults: list[Fault | None] = field(default_factory=list)
    stall_upsert: int | None = None  # this accepted upsert (1-based) is never answered
    stalled: trio.Event = field(default_factory=trio.Event)
    requests: list[Request] = field(default_factory=list)
    feeds: dict[str, dict[str, Any]] = field(default_factory=dict)  # id: product id: product
    created: int = 0
    _changed: trio.Event = field(default_factory=trio.Event)

    @property
    def upserts(self) -> list[Request]:
        """The product upserts the platform accepted, in order."""
        return [r for r in self.requests if r.method == "PATCH" and r.answer.get("accepted")]

    def pushed(self) -> list[str]:
        """The product id of every product accepted, in order (a repeat each time)."""
        return [product["id"] for r in self.upserts for product in r.body["products"]]

    def newest(self) -> dict[str, Any]:
        """The products of the feed created last (none yet: empty)."""
        return self.feeds.get(f"feed_{self.created}", {})

    def availability(self) -> dict[str, str]:
        """Every variant's availability status in the newest feed."""
        return {
            variant["id"]: variant["availability"]["status"]
            for product in self.newest().values()
            for variant in product["variants"]
        }

    def transport(self, source: str = "publisher") -> httpx.ASGITransport:
        """The platform in-process (no socket): the publisher's own httpx client, with
        its requests and timeouts in trio time (MockClock)."""
        self.url = f"http://platform.test{PREFIX}"
        return httpx.ASGITransport(app=self, client=(source, 1))

    async def wait_until(self, condition: Callable[[], object], timeout: float = 15.0) -> None:
        """Return once `condition()` holds, checked after each request (trio time)."""
        with trio.fail_after(timeout):
            while not condition():
                await self._changed.wait()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        raw = await read_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        body = json.loads(raw or b"null")
        source = str((scope.get("client") or ("?",))[0])
        request = Request(
            scope["method"], scope["path"], headers, body, 0, None, trio.current_time(), source
        )
        status, answer, extra = self._answer(request)
        request.status, request.answer = status, answer
        self.requests.append(request)
        self._changed.set()
        self._changed = trio.Event()
        upserts = self.upserts
        if upserts and upserts[-1] is request and len(upserts) == self.stall_upsert:
            self.stalled.set()
            await trio.sleep_forever()  # applied, never acknowledged
        json_type = (b"content-type", b"application/json")
        await respond(send, status, json.dumps(answer).encode(), [json_type, *extra])

    def _answer(self, request: Request) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        if self.faults and (fault := self.faults.pop(0)) is not None:
            extra = [(b"retry-after", fault.retry_after.encode())] if fault.retry_after else []
            return fault.status, fault.answer or error("fault", "Scripted failure."), extra
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            request.problems = "wrong or missing API key"
            return 401, error("invalid_api_key", "Wrong API key."), []
        if request.method == "POST" and request.path == f"{PREFIX}/feeds":
            return self._create(request)
        if request.method == "PATCH" and (match := UPSERT.match(request.path)):
            return self._upsert(request, match["feed"])
        return 404, error("not_found", "No such route."), []

    def _create(self, request: Request) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        if problems := invalid("CreateFeedRequest", request.body):
            request.problems = problems
            return 400, error("invalid_request", "Invalid feed payload."), []
        self.created += 1
        feed_id = f"feed_{self.created}"
        self.feeds[feed_id] = {}
        created = {"id": feed_id, **request.body, "updated_at": "2026-04-17T00:00:00Z"}
        acp_schema.validate_bundle(VERSION, acp_schema.FEED, "FeedMetadata", created)
        return 201, created, []

    def _upsert(self, request: Request, feed_id: str) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        if feed_id not in self.feeds:
            return 404, error("feed_not_found", "Feed not found"), []
        if problems := invalid("UpsertProductsRequest", request.body):
            request.problems = problems
            return 400, error("invalid_product_payload", "Invalid products."), []
        for product in request.body["products"]:
            self.feeds[feed_id][product["id"]] = product
        return 200, {"id": feed_id, "accepted": True}, []


def error(code: str, message: str) -> dict[str, str]:
    return {"type": "invalid_request", "code": code, "message": message}


def invalid(definition: str, body: Any) -> str:
    return acp_schema.format_errors(acp_schema.errors(VERSION, acp_schema.FEED, definition, body))


@asynccontextmanager
async def running_platform(api_key: str) -> AsyncIterator[FakeFeedPlatform]:
    """The fake on a free loopback port; its `url` is the Feed API's base."""
    platform = FakeFeedPlatform(api_key)
    async with serving(platform) as url:
        platform.url = f"{url}{PREFIX}"
        yield platform
