"""The server span of every HTTP request: REST, MCP and the calls other instances
forward, on either port.

It wraps what hypercorn serves, so it covers the whole request (the gate, the
actor's answer, the rendering), and runs in the request's own task: quart's
handler and what it starts inherit it. A caller's W3C `traceparent`/`tracestate`
make it a child of the caller's span (an agent's, or the instance that forwarded
the call). The route and the ACP `Request-Id` are added when they are known
(`describe_request`); the query string and headers other than the user agent
are not recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGISendCallable,
    HTTPScope,
    Scope,
)
from opentelemetry import propagate

from agentic_commerce import tracing

METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
UNMATCHED = "unmatched"  # the metrics' route of a path no rule matched


def known_method(method: str) -> str:
    """A method as a bounded name: any other is `_OTHER` (conventions and metrics alike)."""
    return method if method in METHODS else "_OTHER"


def server_spans(app: ASGIFramework) -> ASGIFramework:
    """`app` with a server span around each HTTP request when tracing is on; else
    `app` itself, untouched."""
    return ServerSpans(app) if tracing.enabled() else app


def _fields() -> frozenset[bytes]:
    return frozenset(name.encode() for name in propagate.get_global_textmap().fields)


@dataclass(frozen=True, slots=True)
class ServerSpans:
    app: ASGIFramework
    fields: frozenset[bytes] = field(default_factory=_fields)  # traceparent, tracestate, ...

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier, agent = self._headers(scope["headers"])
        with tracing.server_span(known_method(scope["method"]), carrier) as span:
            if span is not None and span.is_recording():  # a sampled request
                span.set_attributes(self._attributes(scope, agent))
            await self.app(scope, receive, send)

    def _headers(self, headers: Iterable[tuple[bytes, bytes]]) -> tuple[dict[str, str], str | None]:
        """The propagation headers and the User-Agent."""
        carrier: dict[str, str] = {}
        agent = None
        for name, value in headers:
            if name in self.fields:
                carrier[name.decode("latin-1")] = value.decode("latin-1")
            elif name == b"user-agent":
                agent = value.decode("latin-1")
        return carrier, agent

    @staticmethod
    def _attributes(scope: HTTPScope, agent: str | None) -> tracing.Attributes:
        attributes: dict[str, str | int] = {
            "http.request.method": known_method(scope["method"]),
            "url.path": scope["path"],
            "url.scheme": scope["scheme"],
        }
        if scope["method"] not in METHODS:
            attributes["http.request.method_original"] = scope["method"][:32]
        server = scope.get("server")  # the socket that took it (a Host header is the client's say)
        if server:
            attributes["server.address"] = server[0]
            if server[1] is not None:
                attributes["server.port"] = server[1]
        client = scope.get("client")
        if client:
            attributes["client.address"] = client[0]
        if agent:
            attributes["user_agent.original"] = agent[:256]
        return attributes


def describe_request(method: str, route: str, request_id: str, status: int) -> None:
    """Add what the app learned to the request's server span: its route (the span
    is then named after it), the ACP `Request-Id` (the one logged and answered) and
    the status (an error from 500 on: a client's mistake is no server error)."""
    span = tracing.current_span()
    if span is None:
        return
    learned: dict[str, str | int] = {
        "http.response.status_code": status,
        "acp.request_id": request_id,
    }
    if route != UNMATCHED:
        learned["http.route"] = route
        span.update_name(f"{known_method(method)} {route}")
    span.set_attributes(learned)
    if status >= 500:
        tracing.fail(span, str(status))
