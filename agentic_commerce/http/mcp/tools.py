"""A checkout tool call: the REST request it maps to, through the same gate,
idempotency and session actors, answered in the binding's form.

`meta` carries what REST sends as headers (`api_version`, `idempotency_key`,
`request_id`, `signature`, `timestamp`) and `payload` the REST body. The body the
gate signs, parses and fingerprints is the RFC 8785 canonical JSON of `payload`:
`meta.signature` is the REST HMAC over `meta.timestamp`, a dot and those bytes,
and a call with the same `idempotency_key` and payload as a REST request (same
merchant, same operation) is that request.

A result is a `CallToolResult` with the session as `structuredContent` and as JSON
text. An ACP error is a JSON-RPC error `-32000` whose `data` is the flat error, its
`param` pointing into the call's arguments (`$.payload.currency`); so is a complete
whose payment was declined, which REST answers with the session and its message.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mcp_types as types
import orjson
import rfc8785
import structlog
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from agentic_commerce import metrics
from agentic_commerce.actors.session import store_unavailable
from agentic_commerce.domain.errors import RequestRejected
from agentic_commerce.http.checkout import Checkout, known
from agentic_commerce.http.context import Admission, Gate, Presented
from agentic_commerce.http.errors import error_body, internal_error
from agentic_commerce.http.idempotency import Idempotency, Outcome
from agentic_commerce.http.mcp.binding import Tool, load_tools
from agentic_commerce.http.request_ids import request_id
from agentic_commerce.protocol.versions import Versions
from agentic_commerce.store.base import StoreUnavailable

log = structlog.get_logger("agentic_commerce.mcp")
MERCHANT = "acs.merchant"  # the ASGI scope key of the merchant the endpoint authenticated
ACP_ERROR = -32000  # the binding's JSON-RPC code of every ACP error
META_FIELDS = ("api_version", "idempotency_key", "request_id", "signature", "timestamp")
# Refusals of what `meta` carries (their REST twins name a header, not a param).
META_PARAMS = {
    "missing_api_version": "$.meta.api_version",
    "unsupported_api_version": "$.meta.api_version",
    "invalid_idempotency_key": "$.meta.idempotency_key",
    "idempotency_conflict": "$.meta.idempotency_key",
    "idempotency_in_flight": "$.meta.idempotency_key",
    "invalid_signature": "$.meta.signature",
    "signature_replayed": "$.meta.signature",
    "signature_expired": "$.meta.timestamp",
}
MESSAGES = {"missing_api_version": "meta.api_version is required."}  # REST names its header
MISSING = "Required field is missing."
BINDING_CODES = {"missing_field": "missing_required_field"}  # the binding's examples' names


@dataclass(frozen=True, slots=True)
class Answered:
    """A tool call's answer: the session, or the binding's error."""

    status: int  # what REST answers the same request
    outcome: Outcome | None = None
    session: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class ArgumentRejected(RequestRejected):
    """A refusal of the call's arguments themselves: its `param` points into them
    (`$.meta...`, `$.id`, `$.payload`), not into the REST body."""


def in_arguments(error: Mapping[str, Any], from_body: bool) -> dict[str, Any]:
    """A flat ACP error as the binding shows it: its `param` a JSONPath into the
    call's arguments, its code named as in the binding's examples."""
    data = dict(error)
    data["code"] = BINDING_CODES.get(data["code"], data["code"])
    param = data.get("param")
    if isinstance(param, str) and from_body and param.startswith("$"):
        data["param"] = "$.payload" + param[1:]
    elif param is None and data["code"] in META_PARAMS:
        data["param"] = META_PARAMS[data["code"]]
    data["message"] = MESSAGES.get(data["code"], data["message"])
    return data


def declined(session: Mapping[str, Any]) -> dict[str, Any] | None:
    """A complete that did not complete because the payment was declined: REST
    answers the session with an error message; the binding answers an error."""
    if session.get("status") == "completed":
        return None
    for message in session.get("messages") or ():
        if message.get("type") == "error" and message.get("code") == "payment_declined":
            error = {
                "type": "processing_error",
                "code": "payment_declined",
                "message": message.get("content") or "The payment was declined.",
            }
            if isinstance(message.get("param"), str):
                error["param"] = message["param"]
            return in_arguments(error, from_body=True)
    return None


def meta_of(given: Mapping[str, Any]) -> Mapping[str, str]:
    """The call's `meta`: REST's headers, so strings."""
    meta = given.get("meta", {})
    if not isinstance(meta, dict):
        raise ArgumentRejected("invalid_field", "meta must be an object.", "$.meta")
    for name in META_FIELDS:
        if name in meta and not isinstance(meta[name], str):
            message = f"meta.{name} must be a string."
            raise ArgumentRejected("invalid_field", message, f"$.meta.{name}")
    return meta


def session_of(tool: Tool, given: Mapping[str, Any]) -> str | None:
    """The call's `id` (REST's path parameter); a create has none."""
    if tool.kind == "create":
        return None
    sent = given.get("id")
    if sent is None:
        raise ArgumentRejected("missing_required_field", MISSING, "$.id")
    return known(sent if isinstance(sent, str) else "")


def payload_bytes(tool: Tool, given: Mapping[str, Any]) -> bytes:
    """The REST body of the call: the RFC 8785 canonical JSON of its `payload`
    (read where REST reads its body: after the rate limit and the version)."""
    if not tool.payload or given.get("payload") is None:
        if tool.payload_required:
            raise ArgumentRejected("missing_required_field", MISSING, "$.payload")
        return b""
    payload = given["payload"]
    if not isinstance(payload, dict):
        raise ArgumentRejected("invalid_field", "payload must be an object.", "$.payload")
    try:
        return rfc8785.dumps(payload)
    except rfc8785.CanonicalizationError:
        raise ArgumentRejected(
            "invalid_field",
            "payload must be I-JSON (RFC 8785): integers within 2^53, finite numbers.",
            "$.payload",
        ) from None


class CheckoutTools:
    """The `tools/list` and `tools/call` handlers of the MCP server."""

    def __init__(self, gate: Gate, checkout: Checkout, versions: Versions) -> None:
        self.gate = gate
        self.checkout = checkout
        self.versions = versions
        self.tools = load_tools()
        self.listed = types.ListToolsResult(tools=[t.definition for t in self.tools.values()])

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return self.listed

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        tool = self.tools.get(params.name)
        if tool is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        started = time.perf_counter()
        given = params.arguments or {}
        meta = given.get("meta")
        call_id = request_id(meta.get("request_id") if isinstance(meta, dict) else None)
        merchant = ctx.request.scope.get(MERCHANT) if ctx.request is not None else None
        answered = await self._answered(tool, merchant, given, call_id)
        declined_here = answered.error is not None and answered.status < 400  # REST: a session
        outcome = "refused" if declined_here else metrics.outcome_of(answered.status)
        metrics.CHECKOUT_CALLS.labels(tool.kind, "mcp", outcome).inc()
        log.info(
            "tool_call",
            transport="mcp",
            tool=tool.name,
            request_id=call_id,
            merchant=merchant,
            status=answered.status,
            error=answered.error["code"] if answered.error else None,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            **({"session_id": answered.session["id"]} if answered.session else {}),
        )
        if answered.error is not None:
            raise MCPError(ACP_ERROR, answered.error["message"], answered.error)
        assert answered.outcome is not None and answered.session is not None
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=answered.outcome.body.decode())],
            structured_content=answered.session,
            _meta={"idempotent_replayed": True} if answered.outcome.replayed else None,
        )

    async def _answered(
        self, tool: Tool, merchant: str | None, given: Mapping[str, Any], call_id: str
    ) -> Answered:
        """The call's answer, an error included: never an exception."""
        admission = Admission()
        try:
            if merchant is None:  # only the endpoint serves this server: never without one
                raise RuntimeError("a tool call reached the server without its merchant")
            outcome = await self._answer(tool, merchant, given, admission)
        except RequestRejected as refused:
            return Answered(refused.status, error=self._refusal(refused, admission))
        except StoreUnavailable:
            return Answered(503, error=self._refusal(store_unavailable(), admission))
        except Exception as exc:
            log.error("unhandled_error", request_id=call_id, error=type(exc).__name__, exc_info=exc)
            return Answered(500, error=self._refusal(internal_error(call_id), admission))
        body = orjson.loads(outcome.body)
        if outcome.status >= 400:  # a refusal recorded for this key (REST or MCP), replayed
            return Answered(outcome.status, error=in_arguments(body, from_body=True))
        if tool.kind == "complete" and (error := declined(body)) is not None:
            return Answered(outcome.status, error=error)
        return Answered(outcome.status, outcome, body)

    async def _answer(
        self, tool: Tool, merchant: str, given: Mapping[str, Any], admission: Admission
    ) -> Outcome:
        meta, session_id = meta_of(given), session_of(tool, given)
        presented = Presented(meta.get("api_version"), meta.get("timestamp"), meta.get("signature"))

        async def body() -> bytes:
            return payload_bytes(tool, given)

        who, sent = await self.gate.admit(admission, merchant, presented, body)
        if tool.kind == "get":
            assert session_id is not None  # `session_of` gives every tool but create one
            return Outcome(200, await self.checkout.get(who, session_id))
        key = Idempotency.key_of(meta.get("idempotency_key"), who.codec.version, optional=True)
        return await self.checkout.post(who, tool.kind, session_id, sent, key)

    def _refusal(self, refused: RequestRejected, admission: Admission) -> dict[str, Any]:
        codec = admission.codec or self.versions.newest
        body = error_body(refused, codec, self.versions)
        return in_arguments(body, from_body=not isinstance(refused, ArgumentRejected))
