"""Flat ACP errors `{type, code, message, param}` for every refusal and failure."""

from __future__ import annotations

from typing import Any

from quart import Response

from agentic_commerce.actors.runtime import (
    ActorCrashed,
    ActorError,
    ActorRef,
    AskTimeout,
    MailboxFull,
)
from agentic_commerce.domain.errors import RequestRejected, unavailable
from agentic_commerce.http.responses import json_response
from agentic_commerce.protocol.base import Codec
from agentic_commerce.protocol.versions import VersionRejected, Versions


def from_actor_error(error: ActorError) -> RequestRejected:
    """Actor failures in protocol terms, all retryable (503 with `Retry-After`): an
    overloaded or slow actor, or one that crashed or was killed while handling the
    request. A restarted actor reloads the committed state, so a retry with the
    same Idempotency-Key replays what was committed or runs the request once."""
    code = {MailboxFull: "overloaded", AskTimeout: "timeout", ActorCrashed: "interrupted"}.get(
        type(error), "unavailable"
    )
    return unavailable(code, "The service is busy; retry shortly.")


async def ask_actor(ref: ActorRef, message: Any, timeout: float) -> Any:
    """An actor's reply to a request; a refusal it answered is raised, and its own
    failures become retryable refusals (`from_actor_error`)."""
    try:
        reply = await ref.ask(message, timeout)
    except ActorError as exc:
        raise from_actor_error(exc) from None
    if isinstance(reply, RequestRejected):
        raise reply
    return reply


def error_body(error: RequestRejected, codec: Codec, versions: Versions) -> dict[str, Any]:
    """The flat error in `codec`'s version (a version error lists the supported ones)."""
    supported = versions.supported if isinstance(error, VersionRejected) else None
    return codec.render_error(error, supported)


def error_headers(error: RequestRejected) -> dict[str, str]:
    headers: dict[str, str] = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="acp"'
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return headers


def error_response(error: RequestRejected, codec: Codec, versions: Versions) -> Response:
    body = error_body(error, codec, versions)
    return json_response(body, error.status, error_headers(error))


def http_refusal(status: int, name: str) -> RequestRejected:
    """A refusal made before any route (or tool) ran: an unknown route or method, a
    body too large (413) or too slow (408)."""
    code = {
        404: "not_found",
        405: "method_not_allowed",
        408: "request_timeout",
        413: "request_too_large",
    }.get(status, "invalid_request")
    message = {
        408: "The request body did not arrive in time.",
        413: "The request body exceeds 1 MiB.",
    }.get(status, name)
    return RequestRejected(code, message, None, status=status)


def internal_error(request_id: str) -> RequestRejected:
    """A bug's answer: the request id to quote, no internal detail."""
    return RequestRejected(
        "internal_error",
        f"The request failed unexpectedly (request id {request_id}).",
        None,
        status=500,
        type="processing_error",
    )


def absent_in_version(api: str) -> RequestRejected:
    """A route the caller's API-Version does not define: 404, as for any unknown route
    (the API came in a later version)."""
    return RequestRejected("not_found", f"This API-Version has no {api}.", None, status=404)
