"""`/mcp`: the MCP Streamable HTTP endpoint, beside the quart-trio app on the same
server and port.

The official SDK serves the protocol (stateless, JSON responses: every POST is
answered on its own, so any instance can answer any call). In front of it, every
HTTP request is authenticated as a REST request is, `initialize` included: a
missing or wrong `Authorization: Bearer <API key>` is answered 401 (an address that
guessed too many keys, 429) before the SDK sees anything, so no tool runs. Only POST
is served (405 otherwise: a stateless server has no stream to open for a GET and no
session to end with a DELETE). The body is read whole first, within REST's limits:
1 MiB (413) and `BODY_TIMEOUT_SECONDS` from the request head (408).

The SDK's session manager needs a task group for the life of the server: it runs
in the ASGI lifespan, around the quart-trio app's own.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import cast

import orjson
import structlog
import trio
from hypercorn import typing as hypercorn
from hypercorn.typing import ASGIFramework, ASGIReceiveCallable, ASGISendCallable
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from agentic_commerce import __version__, metrics
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.http.context import Gate
from agentic_commerce.http.errors import error_body, error_headers, http_refusal
from agentic_commerce.http.mcp.tools import MERCHANT, CheckoutTools
from agentic_commerce.http.request_ids import request_id
from agentic_commerce.http.responses import JSON_TYPE
from agentic_commerce.http.tracing import describe_request

log = structlog.get_logger("agentic_commerce.http")
MCP_PATH = "/mcp"
SERVER_NAME = "agentic-commerce-server"
METHODS = frozenset({"GET", "POST", "DELETE"})  # what Streamable HTTP uses


def mcp_manager(tools: CheckoutTools, max_body_bytes: int) -> StreamableHTTPSessionManager:
    """The SDK's server of the five tools, stateless with JSON answers: no session to
    keep or share between instances, no stream held open."""
    server: Server[object] = Server(
        SERVER_NAME,
        version=__version__,
        title="Agentic Commerce checkout (ACP 2026-04-17 MCP binding)",
        on_list_tools=tools.list_tools,
        on_call_tool=tools.call_tool,
    )
    return StreamableHTTPSessionManager(
        server, json_response=True, stateless=True, max_request_body_size=max_body_bytes
    )


class BodyRefused(Exception):
    """The body broke a limit (`refusal`), or the client left before sending it all
    (None: nobody to answer)."""

    def __init__(self, refusal: RequestRejected | None) -> None:
        self.refusal = refusal


@dataclass(frozen=True, slots=True)
class McpEndpoint:
    """The ASGI app of `/mcp`: authentication, the body, then the SDK."""

    gate: Gate
    manager: StreamableHTTPSessionManager
    max_body_bytes: int
    body_timeout: float | None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers = Headers(scope=scope)
        statuses: list[int] = []

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
            await send(message)

        merchant = None
        try:
            peer = scope["client"][0] if scope.get("client") else None
            client = self.gate.throttle.address_of(peer, headers.get("x-forwarded-for"))
            merchant = await self.gate.authenticate(client, headers.get("authorization"))
            if scope["method"] != "POST":  # stateless: no stream to open (GET), none to end
                raise http_refusal(405, "Method Not Allowed")
            body = await self._body(receive)
        except BodyRefused as refused:
            if refused.refusal is not None:
                await self._refuse(sending, refused.refusal)
        except RequestRejected as refused:
            await self._drain(receive)
            await self._refuse(sending, refused)
        else:
            replay = _replaying(body, receive)
            await self.manager.handle_request({**scope, MERCHANT: merchant}, replay, sending)
        status = statuses[0] if statuses else 400  # nothing sent: the client left
        seconds = time.perf_counter() - started
        method = scope["method"] if scope["method"] in METHODS else "OTHER"  # a bounded label
        metrics.HTTP_REQUESTS.labels(MCP_PATH, method, str(status)).inc()
        metrics.HTTP_DURATION.labels(MCP_PATH).observe(seconds)
        given_id = request_id(headers.get("request-id"))
        describe_request(method, MCP_PATH, given_id, status)
        log.info(
            "request",
            transport="mcp",
            request_id=given_id,
            merchant=merchant,
            method=method,
            route=MCP_PATH,
            status=status,
            duration_ms=round(seconds * 1000, 2),
        )

    async def _body(self, receive: Receive) -> bytes:
        """The whole body, within the size limit and the body deadline."""
        chunks: list[bytes] = []
        size = 0
        timeout = math.inf if self.body_timeout is None else self.body_timeout
        with trio.move_on_after(timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise BodyRefused(None)
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise BodyRefused(http_refusal(413, ""))
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
        raise BodyRefused(http_refusal(408, ""))

    async def _drain(self, receive: Receive) -> None:
        """Read what is left of a refused request's body (within the same limits):
        hypercorn closes a connection whose body was not received, and the client's
        next keep-alive request would fail. A body past the limits is left unread."""
        with contextlib.suppress(BodyRefused):
            await self._body(receive)

    async def _refuse(self, send: Send, refusal: RequestRejected) -> None:
        """A refusal before the SDK: the flat ACP error (newest version), as REST's."""
        versions = self.gate.versions
        body = orjson.dumps(error_body(refusal, versions.newest, versions))
        headers = {**error_headers(refusal), "Content-Type": JSON_TYPE, "Cache-Control": "no-store"}
        if refusal.status in (408, 413):  # the rest of the body is never read: this connection ends
            headers["Connection"] = "close"
        if refusal.status == 405:
            headers["Allow"] = "POST"
        start: Message = {
            "type": "http.response.start",
            "status": refusal.status,
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }
        await send(start)
        await send({"type": "http.response.body", "body": body})


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read, then what the connection says."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


@dataclass(frozen=True, slots=True)
class Mounted:
    """The quart-trio app with `/mcp` beside it: one server, one port. The MCP
    session manager's task group lives as long as the app's lifespan."""

    app: ASGIFramework
    endpoint: McpEndpoint

    async def __call__(
        self, scope: hypercorn.Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "lifespan":
            async with self.endpoint.manager.run():
                await self.app(scope, receive, send)
        elif scope["type"] == "http" and scope["path"] == MCP_PATH:
            # The SDK's (starlette's) ASGI types: the same messages, typed loosely.
            await self.endpoint(cast(Scope, scope), cast(Receive, receive), cast(Send, send))
        else:
            await self.app(scope, receive, send)
